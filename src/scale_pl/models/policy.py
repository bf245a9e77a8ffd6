"""The SCALE policy: DAG encoder + cross-attention pointer + critic, and scheduling wrappers."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from scale_pl.models.critic import Critic
from scale_pl.models.decoders.pointer import CrossAttentionPointer
from scale_pl.models.encoders import ENCODERS, DAGEncoder
from scale_pl.models.layers import mlp, reset_module
from scale_pl.sim.system.observation import (
    Observation,
    node_feature_dim,
    server_feature_dim,
    system_feature_dim,
    task_feature_dim,
)


class PolicyOutput(NamedTuple):
    """What one forward pass gives: ``logits`` ``[B, N]`` (``-inf`` at infeasible servers),
    ``value`` ``[B]`` and the attention feature ``z`` ``[B, D]``."""

    logits: torch.Tensor
    value: torch.Tensor
    z: torch.Tensor


class SCALEPolicy(nn.Module):
    """Actor-critic for placing one task on one of any number of servers.

    - task embedding: ``Linear([MLP(task features), GNN(current node), mean GNN(all nodes)])``
      of size ``D = decoder.embed_dim``;
    - server embeddings: ``MLP(server features)`` ``[B, N, D]``, the same weights for every server;
    - the decoder turns them into server logits and the attention feature ``z``;
    - the critic reads the task embedding, ``z`` and the mean server embedding through a
      stop-gradient, plus the system features (``obs.system``), and predicts PopArt-normalised
      values (:class:`~scale_pl.models.critic.Critic`).

    Feasibility: ``obs.mask`` with finished environments (``obs.done``) removed. A row left
    with no allowed server is scored uniform over all servers, so any action has a finite
    log-probability there (those rows are expected to be masked out of the losses, SRR
    included). Features of servers outside ``obs.mask`` and all features of finished
    environments are ignored (zeroed), so they may hold anything, even NaN or inf.

    Args:
        dag_encoder: embeds the workflow's nodes; its ``in_dim`` must be ``node_feature_dim(K)``.
        decoder: the cross-attention pointer; its ``embed_dim`` is the policy's ``D``.
        task_dim: task feature size, ``task_feature_dim(K)``.
        server_dim: server feature size, ``server_feature_dim(C)``.
        hidden_dim: hidden width of the task and server MLPs and of the default critic.
        act: activation name for those MLPs.
        system_dim: size of ``Observation.system``, ``system_feature_dim(C)``, read by the
            default critic (0 = the critic does not read it).
        critic: value head; default ``Critic(D, hidden_dim, act, system_dim)``.

    Shapes:
        - input: an :class:`~scale_pl.sim.system.observation.Observation` with ``B`` rows and ``N`` servers
        - output: :class:`PolicyOutput` (``[B, N]``, ``[B]``, ``[B, D]``)
    """

    def __init__(
        self,
        dag_encoder: DAGEncoder,
        decoder: CrossAttentionPointer,
        task_dim: int,
        server_dim: int,
        hidden_dim: int = 64,
        act: str = "relu",
        system_dim: int = 0,
        critic: Critic | None = None,
    ) -> None:
        super().__init__()
        embed_dim = decoder.embed_dim
        if critic is not None and critic.embed_dim != embed_dim:
            raise ValueError(f"critic.embed_dim={critic.embed_dim} differs from decoder.embed_dim={embed_dim}")
        self.task_dim = task_dim
        self.server_dim = server_dim
        self.embed_dim = embed_dim
        self.dag_encoder = dag_encoder
        self.decoder = decoder
        self.task_mlp = mlp(task_dim, hidden_dim, embed_dim, act)
        self.task_proj = nn.Linear(embed_dim + 2 * dag_encoder.out_dim, embed_dim)
        self.server_mlp = mlp(server_dim, hidden_dim, embed_dim, act)
        self.system_dim = system_dim
        self.critic = critic if critic is not None else Critic(embed_dim, hidden_dim, act, system_dim=system_dim)

    def reset_parameters(self) -> None:
        reset_module(self)

    @staticmethod
    def allowed_servers(obs: Observation) -> torch.Tensor:
        """``[B, N]`` bool: feasible servers of the environments that still have a decision."""
        return obs.mask & ~obs.done.view(-1, 1)

    def embed_task(self, obs: Observation) -> torch.Tensor:
        """``[B, D]`` embedding of the task to place in the context of its workflow."""
        for name in ("task", "nodes", "node_mask", "edges", "edge_mask", "current"):
            if getattr(obs, name) is None:
                raise ValueError(f"SCALEPolicy needs observation field {name!r}; the environment did not provide it")
        # A finished environment's fields are stale (possibly inf): zero them, so that nothing
        # non-finite enters a product (0 * inf would poison the weight gradients too).
        live = ~obs.done
        task = torch.where(live.view(-1, 1), obs.task, 0.0)
        nodes = torch.where(live.view(-1, 1, 1), obs.nodes, 0.0)
        current, graph = self.dag_encoder.encode_graphs(  # [B, G] each
            nodes, obs.node_mask, obs.edges, obs.edge_mask, obs.current
        )
        return self.task_proj(torch.cat([self.task_mlp(task), current, graph], dim=-1))

    def forward(self, obs: Observation) -> PolicyOutput:
        """Server logits, state value and attention feature for each environment."""
        if obs.servers is None:
            raise ValueError("SCALEPolicy needs observation field 'servers'; the environment did not provide it")
        allowed = self.allowed_servers(obs)
        task = self.embed_task(obs)
        # Servers outside ``allowed`` are never attended to nor pooled; zeroing their features
        # keeps a non-finite value there (an infeasible server's EFT, a finished env) harmless.
        servers = self.server_mlp(torch.where(allowed.unsqueeze(-1), obs.servers, 0.0))  # [B, N, D]
        logits, z = self.decoder(task, servers, allowed)
        system = obs.system
        if system is not None:
            system = torch.where(obs.done.view(-1, 1), 0.0, system)
        value = self.critic(task, z, servers, allowed, system)
        return PolicyOutput(logits, value, z)

    def act(
        self, obs: Observation, greedy: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Choose a server per environment (call under ``torch.no_grad()`` in rollouts).

        Args:
            obs: the observation.
            greedy: take the most likely server instead of sampling.
            generator: random source for sampling (on ``obs``'s device); global RNG if None.

        Returns:
            ``action`` ``[B]`` long, ``log_prob`` ``[B]``, ``value`` ``[B]``, ``z`` ``[B, D]``.
        """
        logits, value, z = self(obs)
        log_probs = torch.log_softmax(logits, dim=-1)
        if greedy:
            action = logits.argmax(dim=-1)
        else:
            # Gumbel-max: exact categorical sampling that accepts a generator on any device.
            u = torch.rand(logits.shape, device=logits.device, generator=generator).clamp_(min=1e-20)
            action = (logits - torch.log(-torch.log(u))).argmax(dim=-1)
        return action, log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1), value, z

    def evaluate(
        self, obs: Observation, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Re-score stored actions (the PPO update).

        Returns:
            ``log_prob`` ``[B]`` of ``action`` (``-inf`` for an infeasible server of a live
            environment), ``entropy`` ``[B]``, ``value`` ``[B]``, ``z`` ``[B, D]``.
        """
        logits, value, z = self(obs)
        log_probs = torch.log_softmax(logits, dim=-1)
        log_prob = log_probs.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
        return log_prob, entropy_from_logits(logits), value, z

    @torch.no_grad()
    def select(self, obs: Observation) -> torch.Tensor:
        """Greedy action ``[B]`` long, without gradients."""
        return self(obs).logits.argmax(dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy ``[B]`` of ``softmax(logits)`` ``[B, N]``; ``-inf`` logits (probability 0) add 0.

    Written so that neither the value nor the gradient is NaN at masked entries.
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    probs = log_probs.exp()
    return -(probs * log_probs.masked_fill(torch.isneginf(log_probs), 0.0)).sum(dim=-1)


def build_policy(
    num_types: int,
    num_classes: int,
    encoder: str = "gin",
    embed_dim: int = 32,
    hidden_dim: int = 64,
    num_layers: int = 3,
    num_heads: int = 4,
    tanh_clip: float = 10.0,
    dropout: float = 0.0,
    normalize: str = "centre",
    aggregate: str = "mean",
) -> SCALEPolicy:
    """A :class:`SCALEPolicy` with consistent dimensions for ``K`` task types and ``C`` server classes.

    The encoder (``"gatv2"``, ``"gin"``, ``"gcn"``, ``"sage"``, ``"transformer"`` or ``"mlp"``)
    has ``embed_dim`` hidden and output channels; attention-based ones use ``num_heads`` heads.
    Handy outside the CLI (tests, benchmarks, notebooks); the CLI builds the same from YAML.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; expected one of {sorted(ENCODERS)}")
    cls = ENCODERS[encoder]
    extra = {"heads": num_heads} if encoder in ("gatv2", "transformer") else {}
    dag_encoder = cls(node_feature_dim(num_types), embed_dim, embed_dim, num_layers, dropout=dropout, **extra)
    decoder = CrossAttentionPointer(
        embed_dim, num_heads=num_heads, tanh_clip=tanh_clip, normalize=normalize, aggregate=aggregate
    )
    return SCALEPolicy(
        dag_encoder,
        decoder,
        task_feature_dim(num_types),
        server_feature_dim(num_classes),
        hidden_dim=hidden_dim,
        system_dim=system_feature_dim(num_classes),
    )


class _PolicyWrapper:
    """Shared part of the scheduling-policy wrappers: no gradients, eval mode during the call."""

    def __init__(self, policy: SCALEPolicy) -> None:
        self.policy = policy

    def reset(self, batch_size: int) -> None:
        """Start new episodes (nothing to clear: the policy is memoryless)."""

    def _act(self, obs: Observation, greedy: bool, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        """``SCALEPolicy.act`` in eval mode without gradients: action, log_prob, value, z."""
        was_training = self.policy.training
        self.policy.eval()
        try:
            with torch.no_grad():
                return self.policy.act(obs, greedy=greedy, generator=generator)
        finally:
            self.policy.train(was_training)


class GreedyPolicy(_PolicyWrapper):
    """The simulator's policy protocol over :class:`SCALEPolicy`: the most likely server.

    ``policy(obs)`` returns ``[B]`` long server indices, computed in eval mode under
    ``torch.no_grad()``. With ``record_features=True`` the attention feature z of every live
    decision since the last ``reset`` is kept in ``features`` (the distribution-shift diagnostics).
    """

    def __init__(self, policy: SCALEPolicy, record_features: bool = False) -> None:
        super().__init__(policy)
        self.record_features = record_features
        self.features: list[torch.Tensor] = []

    def reset(self, batch_size: int) -> None:
        self.features = []

    def __call__(self, obs: Observation) -> torch.Tensor:
        action, _, _, z = self._act(obs, greedy=True, generator=None)
        if self.record_features:
            self.features.append(z[~obs.done])
        return action

    def __repr__(self) -> str:
        return f"GreedyPolicy({type(self.policy).__name__})"


class SamplingPolicy(_PolicyWrapper):
    """The simulator's policy protocol over :class:`SCALEPolicy`: sample a server.

    ``reset(batch_size)`` re-seeds the sampler, so every run over the same workload draws the
    same actions; ``policy(obs)`` returns ``[B]`` long server indices (eval mode, no gradients).

    Args:
        policy: the trained policy.
        seed: seed of the sampling generator.
    """

    def __init__(self, policy: SCALEPolicy, seed: int = 0) -> None:
        super().__init__(policy)
        self.seed = seed
        self._generator: torch.Generator | None = None

    def reset(self, batch_size: int) -> None:
        self._generator = None  # re-created (re-seeded) on the device of the next observation

    def __call__(self, obs: Observation) -> torch.Tensor:
        device = obs.mask.device
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._act(obs, greedy=False, generator=self._generator)[0]

    def __repr__(self) -> str:
        return f"SamplingPolicy({type(self.policy).__name__}, seed={self.seed})"
