"""A lean greedy forward of :class:`~scale_pl.models.policy.SCALEPolicy` for one decision at a time.

The one-environment engine (``schedule``, ``scale_pl serve``) asks for one decision per call. At a
batch of one, the module's forward is bound by the number of small tensor operations (about 110,
1.2 ms at N=96), not by arithmetic. :class:`LeanGreedy` computes the same logits with the same
weights in about 30 numpy operations, without the critic (a greedy choice does not need the
value), and with the attention and pointer keys folded into the query: the server embeddings
``S`` are only ever multiplied by a few vectors, so ``S @ (W_k q)`` replaces ``(S @ W_k) q``.
Those two differ only by float rounding (a test holds the logits to the module's within 1e-4).
The choice is the policy's own greedy rule where it has one (``SCALEPolicy.greedy(obs, logits)``,
its tie-breaking included), else the highest logit and the lowest index among exact ties, as
:class:`~scale_pl.models.policy.GreedyPolicy` chooses; a heuristic ``prior`` on the policy, where
there is one, is added to the logits by calling it.

It covers the configurations it knows (every encoder but the graph transformer and GATv2 is a
different layer; today: GIN and the MLP encoder, no normalisation between layers, ReLU). For any
other configuration :func:`one_environment_policy` keeps the module's own forward.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from scale_pl.baselines.heuristics import EarliestFinishTime, LeastLoaded, RandomPolicy, RankAwareEFT, RoundRobin
from scale_pl.models.decoders.pointer import CrossAttentionPointer
from scale_pl.models.encoders.gnn import GINEncoder
from scale_pl.models.encoders.mlp import MLPEncoder
from scale_pl.models.policy import GreedyPolicy, SCALEPolicy
from scale_pl.sim.system.observation import Observation

# Heuristics that read only the raw observation fields (mask, est_finish, backlog, speed, slack):
# their observations skip the learned features, most of the cost of a decision.
RAW_ONLY = (EarliestFinishTime, LeastLoaded, RandomPolicy, RankAwareEFT, RoundRobin)


def one_environment_policy(policy):
    """What the one-environment engine should call for ``policy``, and whether it reads the learned
    features: ``(policy, False)`` for a heuristic, ``(LeanGreedy(policy), True)`` for a greedy
    policy of a configuration :class:`LeanGreedy` covers, else ``(policy, True)``."""
    if isinstance(policy, RAW_ONLY):
        return policy, False
    return (LeanGreedy(policy) if LeanGreedy.covers(policy) else policy), True


def _dense(linear: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    """A linear layer's ``(W^T [in, out], b [out])`` as float32 arrays."""
    return linear.weight.detach().cpu().numpy().T.astype(np.float32), linear.bias.detach().cpu().numpy().copy()


def _two_layer(seq: nn.Sequential) -> tuple[np.ndarray, ...]:
    return (*_dense(seq[0]), *_dense(seq[2]))


def _relu_mlp(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    h = x @ w1
    h += b1
    np.maximum(h, 0.0, out=h)
    h = h @ w2
    h += b2
    return h


class LeanGreedy:
    """The greedy choice of a :class:`~scale_pl.models.policy.GreedyPolicy`, one observation at a time,
    in numpy (see the module docstring). Call :meth:`covers` first.

    Args:
        greedy: the policy whose weights it reads (copied: later changes to the module are not seen).

    Shapes:
        - input: an :class:`~scale_pl.sim.system.observation.Observation` of one environment
        - output: ``[1]`` long, the chosen server
    """

    #: the plain attributes of the modules it knows, so that a configuration it does not know (a new
    #: option) is left to the module; those of READ may be there or not (an optional prior is added
    #: to the logits and the choice is the policy's own ``greedy`` where the policy has them)
    KNOWN: ClassVar[dict[type, set[str]]] = {
        SCALEPolicy: {"training", "task_dim", "server_dim", "embed_dim", "system_dim"},
        CrossAttentionPointer: {"training", "embed_dim", "num_heads", "tanh_clip", "normalize", "aggregate"},
    }
    READ: ClassVar[dict[type, set[str]]] = {
        SCALEPolicy: {"prior", "tie_tolerance"},
        CrossAttentionPointer: {"log_scale"},
    }

    @classmethod
    def covers(cls, policy) -> bool:
        """Whether ``policy`` is a greedy SCALE policy of a configuration this class computes exactly."""
        if type(policy) is not GreedyPolicy or policy.record_features or type(policy.policy) is not SCALEPolicy:
            return False
        p = policy.policy
        if type(p.decoder) is not CrossAttentionPointer:
            return False
        if any(_public(m) - cls.READ[type(m)] != cls.KNOWN[type(m)] for m in (p, p.decoder)):
            return False
        encoder = p.dag_encoder
        if type(encoder) not in (GINEncoder, MLPEncoder) or encoder.norm_name is not None:
            return False
        if not isinstance(encoder.act, nn.ReLU) or not all(_is_relu_mlp(s) for s in (p.task_mlp, p.server_mlp)):
            return False
        return type(encoder) is MLPEncoder or all(_is_relu_mlp(layer.nn) for layer in encoder.layers)

    def __init__(self, greedy: GreedyPolicy) -> None:
        if not self.covers(greedy):
            raise ValueError(f"LeanGreedy does not cover {greedy!r}")
        self.greedy = greedy
        p, d = greedy.policy, greedy.policy.decoder
        encoder = p.dag_encoder
        self.gin = type(encoder) is GINEncoder
        if self.gin:
            self.layers = [(1.0 + float(layer.eps.detach()), *_two_layer(layer.nn)) for layer in encoder.layers]
        else:
            self.layers = [_dense(layer) for layer in encoder.layers]
        self.task_mlp = _two_layer(p.task_mlp)
        self.server_mlp = tuple(torch.from_numpy(a) for a in _two_layer(p.server_mlp))  # N rows: torch's matmul
        self.task_proj = _dense(p.task_proj)
        self.embed, self.heads = d.embed_dim, d.num_heads
        self.tanh_clip, self.normalize, self.aggregate = d.tanh_clip, d.normalize, d.aggregate
        self.scale = math.exp(float(d.log_scale.detach())) if d.log_scale is not None else 1.0
        self.attn_query, self.attn_out, self.pointer_query = (
            _dense(d.attn_query),
            _dense(d.attn_out),
            _dense(d.pointer_query),
        )
        w, b = _dense(d.server_proj)  # [D, 3D]: attention key, attention value, pointer key
        e = self.embed
        heads = (e, self.heads, e // self.heads)  # [D, H, D/H]: the output columns of each head
        self.key, self.value = (np.ascontiguousarray(w[:, i * e : (i + 1) * e]).reshape(heads) for i in range(2))
        self.pointer_key = np.ascontiguousarray(w[:, 2 * e :])
        self.value_bias, self.pointer_bias = b[e : 2 * e], b[2 * e :]

    def reset(self, batch_size: int) -> None:
        self.greedy.reset(batch_size)

    def __call__(self, obs: Observation) -> torch.Tensor:
        logits = self.logits(obs)
        choose = getattr(self.greedy.policy, "greedy", None)  # a policy with its own tie rule applies it
        if choose is None:
            return torch.from_numpy(np.argmax(logits, keepdims=True))
        with torch.no_grad():
            return choose(obs, torch.from_numpy(logits)[None])

    def task_embedding(self, obs: Observation) -> np.ndarray:
        """``[D]`` the task's embedding in the context of its workflow (``SCALEPolicy.embed_task``)."""
        x = obs.nodes[0].numpy()
        current = int(obs.current[0])
        if self.gin:
            m, edges = len(x), obs.edges[0][obs.edge_mask[0]].numpy()
            counts = np.bincount(edges[:, 1] * m + edges[:, 0], minlength=m * m)
            adjacency = counts.reshape(m, m).astype(np.float32)  # [child, parent]: edge multiplicities
        for i, layer in enumerate(self.layers):
            if self.gin:
                one_eps, *mlp = layer
                x = _relu_mlp(np.concatenate([one_eps * x + adjacency @ x, adjacency.T @ x], axis=1), *mlp)
            else:
                x = x @ layer[0] + layer[1]
            if i < len(self.layers) - 1:
                np.maximum(x, 0.0, out=x)
        task = _relu_mlp(obs.task[0].numpy(), *self.task_mlp)
        w, b = self.task_proj
        return np.concatenate([task, x[current], x.sum(axis=0) / len(x)]) @ w + b

    def logits(self, obs: Observation) -> np.ndarray:
        """``[N]`` the pointer's logits (``-inf`` at servers the task cannot use)."""
        query = self.task_embedding(obs)
        allowed_servers = self.greedy.policy.allowed_servers(obs)  # [1, N], the prior's shield included
        allowed = allowed_servers[0].numpy()
        free = not allowed.any()
        if free:  # nothing to choose from: every server, uniform (as the module does)
            allowed = np.ones_like(allowed)
        rows = np.flatnonzero(allowed)  # only allowed servers are attended to or scored
        w1, b1, w2, b2 = self.server_mlp
        s = torch.addmm(b2, torch.addmm(b1, torch.from_numpy(obs.servers[0].numpy()[rows]), w1).relu_(), w2)  # [A, D]
        z = self._attend(query, s)
        w, b = self.pointer_query
        q = np.concatenate([query, z]) @ w + b
        if self.normalize == "cosine":
            keys = torch.addmm(torch.from_numpy(self.pointer_bias), s, torch.from_numpy(self.pointer_key)).numpy()
            keys /= np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
            scores = keys @ (q / max(float(np.linalg.norm(q)), 1e-12))
        else:  # q . (S W_k + b_k) / sqrt(D) = S (W_k q / sqrt(D)) + b_k . q / sqrt(D)
            root = math.sqrt(self.embed)
            scores = (s @ torch.from_numpy(self.pointer_key @ q / root)).numpy()
            if self.normalize == "none":  # centred scores do not see the constant
                scores += float(self.pointer_bias @ q) / root
        if self.normalize != "none":
            scores -= scores.sum() / len(scores)
        if self.scale != 1.0:
            scores *= self.scale
        if self.tanh_clip > 0:
            scores = self.tanh_clip * np.tanh(scores)
        logits = np.full(len(allowed), 0.0 if free else -np.inf, dtype=np.float32)
        if not free:
            logits[rows] = scores
        prior = getattr(self.greedy.policy, "prior", None)  # an anchored pointer: a heuristic score added
        if prior is not None:
            with torch.no_grad():
                logits += prior(obs, allowed_servers)[0].numpy()
        return logits

    def _attend(self, query: np.ndarray, s: torch.Tensor) -> np.ndarray:
        """``[D]`` the attention feature z: multi-head attention of the task over the allowed servers
        (their embeddings ``s`` ``[A, D]``)."""
        w, b = self.attn_query
        q = (query @ w + b).reshape(self.heads, -1)  # [H, D/H]
        # scores[n, h] = q_h . (S W_k + b_k)[n, h]; the b_k term is the same for every server: the softmax drops it
        folded = (self.key * (q / math.sqrt(q.shape[1]))).sum(axis=2)  # [D, H]
        weights = torch.softmax(s @ torch.from_numpy(folded), dim=0)  # [A, H]
        pooled = (weights.T @ s).numpy()  # [H, D]: the attention-weighted mean server embedding per head
        out = np.einsum("hd,dhk->hk", pooled, self.value).reshape(-1) + self.value_bias
        if self.aggregate == "sum":
            out *= float(len(s))
        w, b = self.attn_out
        return out @ w + b

    def __repr__(self) -> str:
        return f"LeanGreedy({self.greedy!r})"


def _public(module) -> set[str]:
    return {k for k in vars(module) if not k.startswith("_")}


def _is_relu_mlp(seq) -> bool:
    return (
        isinstance(seq, nn.Sequential) and len(seq) == 3 and type(seq[0]) is nn.Linear and isinstance(seq[1], nn.ReLU)
        and type(seq[2]) is nn.Linear
    )  # fmt: skip
