"""The SCALE policy: DAG encoder + cross-attention pointer + critic, and scheduling wrappers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import nn

from scale_pl.models.critic import Critic
from scale_pl.models.decisions import TIE_TOLERANCE, DecisionRecord, entropy_from_logits, greedy_choice
from scale_pl.models.decoders.pointer import CrossAttentionPointer
from scale_pl.models.encoders import ENCODERS, DAGEncoder
from scale_pl.models.layers import mlp, reset_module
from scale_pl.models.priors import HeuristicPrior
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
    - the decoder turns them into server scores, bounded to ``+-tanh_clip`` (the residual), and
      the attention feature ``z``;
    - an optional ``prior`` (:class:`~scale_pl.models.priors.HeuristicPrior`) adds a size-free
      heuristic score, so ``logits = prior + residual``: the anchored pointer. The policy samples
      from, re-scores and trains on these logits, prior included;
    - the critic reads the task embedding, ``z`` and the mean server embedding through a
      stop-gradient, plus the system features (``obs.system``), and predicts PopArt-normalised
      values (:class:`~scale_pl.models.critic.Critic`).

    The greedy choice (``act(greedy=True)``, ``select``, :class:`GreedyPolicy`) breaks ties
    between logits within ``tie_tolerance`` of the top by the lowest believed finish time
    (:func:`~scale_pl.models.decisions.greedy_choice`), never by server index alone.

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
        critic: value head; default ``Critic(D, hidden_dim, act, system_dim, size_feature=critic_size_feature)``.
        critic_size_feature: the default critic also reads log N (training on several cluster sizes).
        prior: heuristic score added to the decoder's logits (None = the plain pointer).
        tie_tolerance: logits this close to the top are tied in the greedy choice (None = plain
            ``argmax``, ties to the lowest index, as before issue 18).

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
        critic_size_feature: bool = False,
        prior: HeuristicPrior | None = None,
        tie_tolerance: float | None = TIE_TOLERANCE,
    ) -> None:
        super().__init__()
        embed_dim = decoder.embed_dim
        if critic is not None and critic.embed_dim != embed_dim:
            raise ValueError(f"critic.embed_dim={critic.embed_dim} differs from decoder.embed_dim={embed_dim}")
        if tie_tolerance is not None and not tie_tolerance >= 0:
            raise ValueError(f"tie_tolerance must be >= 0 (or None), got {tie_tolerance}")
        self.task_dim = task_dim
        self.server_dim = server_dim
        self.embed_dim = embed_dim
        self.dag_encoder = dag_encoder
        self.decoder = decoder
        self.task_mlp = mlp(task_dim, hidden_dim, embed_dim, act)
        self.task_proj = nn.Linear(embed_dim + 2 * dag_encoder.out_dim, embed_dim)
        self.server_mlp = mlp(server_dim, hidden_dim, embed_dim, act)
        self.system_dim = system_dim
        self.critic = (
            critic
            if critic is not None
            else Critic(embed_dim, hidden_dim, act, system_dim=system_dim, size_feature=critic_size_feature)
        )
        self.prior = prior
        self.tie_tolerance = tie_tolerance

    def reset_parameters(self) -> None:
        reset_module(self)

    def set_anchor(self, prior: HeuristicPrior | None, residual_clip: float | None = None) -> None:
        """Anchor a trained policy after the fact: replace its prior, and bound its residual to
        ``+-residual_clip`` (the decoder's ``tanh_clip``; ``<= 0`` unbounded; None keeps it).

        With ``residual_clip = c`` the residual is ``c tanh(u)``, i.e. ``c / C`` times the logits
        the policy was trained with at ``tanh_clip = C > 0``.
        """
        self.prior = prior
        if residual_clip is not None:
            self.decoder.tanh_clip = residual_clip

    def allowed_servers(self, obs: Observation) -> torch.Tensor:
        """``[B, N]`` bool: feasible servers of the environments that still have a decision, less
        those the prior's shield removes (:meth:`~scale_pl.models.priors.HeuristicPrior.admit`)."""
        allowed = obs.mask & ~obs.done.view(-1, 1)
        admit = getattr(self.prior, "admit", None)  # a prior module may have no shield at all
        return allowed if admit is None else admit(obs, allowed)

    def shielded(self, obs: Observation) -> Observation:
        """``obs`` with its mask narrowed to what the shield admits (``obs`` itself without a shield):
        what a teacher heuristic sees when the policy imitates it, so it never chooses a server the
        policy cannot (its log-probability would be ``-inf``)."""
        if not getattr(self.prior, "shields", False):
            return obs
        mask = torch.where(obs.done.view(-1, 1), obs.mask, self.allowed_servers(obs))
        return dataclasses.replace(obs, mask=mask)

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
        logits, z, (task, servers, allowed) = self._actor(obs)
        system = obs.system
        if system is not None:
            system = torch.where(obs.done.view(-1, 1), 0.0, system)
        num_servers = self.num_servers(obs) if self.critic.size_feature else None
        value = self.critic(task, z, servers, allowed, system, num_servers)
        return PolicyOutput(logits, value, z)

    def actor(self, obs: Observation) -> tuple[torch.Tensor, torch.Tensor]:
        """Server logits ``[B, N]`` and z ``[B, D]`` without the critic (what greedy scheduling needs)."""
        logits, z, _ = self._actor(obs)
        return logits, z

    def _actor(self, obs: Observation) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        if obs.servers is None:
            raise ValueError("SCALEPolicy needs observation field 'servers'; the environment did not provide it")
        allowed = self.allowed_servers(obs)
        task = self.embed_task(obs)
        # Servers outside ``allowed`` are never attended to nor pooled; zeroing their features
        # keeps a non-finite value there (an infeasible server's EFT, a finished env) harmless.
        servers = self.server_mlp(torch.where(allowed.unsqueeze(-1), obs.servers, 0.0))  # [B, N, D]
        logits, z = self.decoder(task, servers, allowed)
        if self.prior is not None:
            logits = logits + self.prior(obs, allowed).to(logits.dtype)  # 0 where not allowed
        return logits, z, (task, servers, allowed)

    @staticmethod
    def num_servers(obs: Observation) -> torch.Tensor:
        """``[B]`` servers of each environment's cluster: the rows of ``obs.servers`` that are not padding
        (a real server's class one-hot is never all zero; a padded server's row is)."""
        return (obs.servers != 0).any(-1).sum(-1)

    def act(
        self, obs: Observation, greedy: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Choose a server per environment (call under ``torch.no_grad()`` in rollouts).

        Args:
            obs: the observation.
            greedy: take the most likely server (ties: :meth:`greedy`) instead of sampling.
            generator: random source for sampling (on ``obs``'s device); global RNG if None.

        Returns:
            ``action`` ``[B]`` long, ``log_prob`` ``[B]``, ``value`` ``[B]``, ``z`` ``[B, D]``.
        """
        logits, value, z = self(obs)
        log_probs = torch.log_softmax(logits, dim=-1)
        if greedy:
            action = self.greedy(obs, logits)
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

    def greedy(self, obs: Observation, logits: torch.Tensor) -> torch.Tensor:
        """The greedy server ``[B]`` long for ``logits`` ``[B, N]`` of ``obs``: the top logit, ties
        within ``tie_tolerance`` to the lowest believed finish (:func:`~scale_pl.models.decisions.greedy_choice`)."""
        return greedy_choice(logits, obs.est_finish, self.tie_tolerance)

    @torch.no_grad()
    def select(self, obs: Observation) -> torch.Tensor:
        """Greedy action ``[B]`` long, without gradients."""
        return self.greedy(obs, self(obs).logits)


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
    prior: str = "none",
    kappa: float = 3.0,
    shield: float | None = None,
    delay_shield: float | None = None,
) -> SCALEPolicy:
    """A :class:`SCALEPolicy` with consistent dimensions for ``K`` task types and ``C`` server classes.

    The encoder (``"gatv2"``, ``"gin"``, ``"gcn"``, ``"sage"``, ``"transformer"`` or ``"mlp"``)
    has ``embed_dim`` hidden and output channels; attention-based ones use ``num_heads`` heads.
    ``prior`` (``"none"``, ``"eft"``, ``"rank_eft"``) anchors the pointer with strength ``kappa``;
    ``shield`` (with any prior) removes servers whose believed finish is over ``shield`` x the best,
    ``delay_shield`` those over the best plus ``delay_shield`` seconds.
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
        prior=None
        if prior == "none" and shield is None and delay_shield is None
        else HeuristicPrior(prior, kappa, shield=shield, delay_shield=delay_shield),
    )


class PolicyEnsemble(nn.Module):
    """Several trained policies deciding together: the greedy server of their mean log-probabilities.

    Each member scores the servers as it would alone (its own prior and bound included); the
    ensemble's score of a server is the mean over members of ``log_softmax(logits)``, the log of the
    geometric mean of their probabilities, so a server any member finds infeasible stays ``-inf``
    and a server that one member alone prefers is outvoted by the others. Ties go as for one policy
    (:meth:`SCALEPolicy.greedy`, the first member's tolerance). It offers what
    :class:`GreedyPolicy` asks of a policy (``actor``, ``greedy``, ``allowed_servers``,
    ``tie_tolerance``); ``z`` is the members' mean, for the diagnostics only.

    Why: the training seeds of one recipe lose on different workloads (RESULTS.md, the robustness
    study: which seed loses on the real traces changes with any change to training), and a vote of
    several seeds needs no choice among them.
    """

    def __init__(self, members: list[SCALEPolicy]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one policy")
        self.members = nn.ModuleList(members)

    @property
    def tie_tolerance(self) -> float | None:
        return self.members[0].tie_tolerance

    def allowed_servers(self, obs: Observation) -> torch.Tensor:
        """``[B, N]`` servers every member may choose."""
        allowed = self.members[0].allowed_servers(obs)
        for member in self.members[1:]:
            allowed = allowed & member.allowed_servers(obs)
        return allowed

    def actor(self, obs: Observation) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean of the members' log-probabilities ``[B, N]`` and of their z ``[B, D]``."""
        scores, features = zip(*(member.actor(obs) for member in self.members), strict=True)
        log_probs = torch.stack([torch.log_softmax(s, dim=-1) for s in scores]).mean(0)
        return log_probs, torch.stack(features).mean(0)

    def greedy(self, obs: Observation, logits: torch.Tensor) -> torch.Tensor:
        return greedy_choice(logits, obs.est_finish, self.tie_tolerance)


class _PolicyWrapper:
    """Shared part of the scheduling-policy wrappers: no gradients, eval mode during the call."""

    def __init__(self, policy: SCALEPolicy) -> None:
        self.policy = policy

    def reset(self, batch_size: int) -> None:
        """Start new episodes (nothing to clear: the policy is memoryless)."""

    @contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode without gradients for the duration, then the policy's own mode back."""
        was_training = self.policy.training
        if was_training:  # switching modes walks every submodule: only when needed
            self.policy.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            if was_training:
                self.policy.train()


class GreedyPolicy(_PolicyWrapper):
    """The simulator's policy protocol over :class:`SCALEPolicy`: the most likely server.

    ``policy(obs)`` returns ``[B]`` long server indices (:meth:`SCALEPolicy.greedy`: ties by the
    lowest believed finish), computed in eval mode under ``torch.no_grad()``. With
    ``record_features=True`` every live decision since the last ``reset`` is recorded: its
    attention feature z in ``features`` (the distribution-shift diagnostics), whether its top
    score was tied, and its normalised entropy; :meth:`diagnostics` sums them up. The tie tolerance
    is the policy's (:data:`~scale_pl.models.decisions.TIE_TOLERANCE` if it has none).
    """

    def __init__(self, policy: SCALEPolicy, record_features: bool = False) -> None:
        super().__init__(policy)
        self.record_features = record_features
        self.reset(0)

    def reset(self, batch_size: int) -> None:
        self.record = DecisionRecord()

    @property
    def features(self) -> list[torch.Tensor]:
        """z ``[b, D]`` of each recorded step since the last ``reset`` (live decisions only)."""
        return self.record.features

    def __call__(self, obs: Observation) -> torch.Tensor:
        with self._inference():
            logits, z = self.policy.actor(obs)
            action = self.policy.greedy(obs, logits)
            if self.record_features:
                tolerance = TIE_TOLERANCE if self.policy.tie_tolerance is None else self.policy.tie_tolerance
                self.record.add(logits, z, self.policy.allowed_servers(obs), obs.est_finish, ~obs.done, tolerance)
        return action

    def diagnostics(self) -> dict[str, float]:
        """The recorded decisions since the last ``reset`` (:meth:`DecisionRecord.summary`):
        ``decisions``, ``tie_share``, ``tie_apart_share``, ``entropy``, ``z_mean``, ``z_std``, ``z_kl``,
        ``z_decorrelation``."""
        return self.record.summary()

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
        with self._inference():
            return self.policy.act(obs, greedy=False, generator=self._generator)[0]

    def __repr__(self) -> str:
        return f"SamplingPolicy({type(self.policy).__name__}, seed={self.seed})"
