"""The greedy choice among tied scores, and what a run of greedy decisions looked like.

A saturated pointer (``C tanh(u)`` at its ceiling) scores many servers the same; ``argmax`` would
hand every such tie to the lowest server index, a choice that depends on how the cluster file
lists its servers. :func:`greedy_choice` breaks ties on what the scheduler knows instead.
"""

from __future__ import annotations

import math

import torch

from scale_pl.losses.srr import feature_stats

TIE_TOLERANCE = 1e-3  # logits this close to the top are tied: probabilities within 0.1% of each other
# Logits closer than this are equal in the greedy choice's second step: float rounding, not a
# preference. Two computations of the same logits (the module's batched forward, the lean one
# of scale_pl.models.lean) differ by up to ~1e-6 on identical servers, depending on where a
# server's row falls in a matrix product; below this they still choose the same server.
ROUNDING = 1e-5


def tied_with_top(logits: torch.Tensor, tolerance: float) -> torch.Tensor:
    """``[B, N]`` bool: servers whose logit is within ``tolerance`` of the row's largest.

    ``-inf`` logits (infeasible servers) are never tied, unless the whole row is ``-inf``.
    """
    top = logits.amax(-1, keepdim=True)
    return logits >= top - tolerance


def greedy_choice(logits: torch.Tensor, est_finish: torch.Tensor, tolerance: float | None) -> torch.Tensor:
    """The greedy server ``[B]`` long: the top logit, ties broken by what the scheduler knows.

    Among the servers within ``tolerance`` of the top logit (:func:`tied_with_top`), in turn:

    1. the lowest believed finish time ``est_finish`` (what EFT would choose among them);
    2. the highest logit (the policy's own preference, however slight: differences under
       :data:`ROUNDING` are float rounding and count as none);
    3. the lowest index: only servers equal in both are left here, that is, servers with the same
       believed finish and the same score. Where the score is not saturated that means the same
       features, servers the policy cannot tell apart; any fixed order is then as good as another
       and the index is one that every simulator and the service share, so replay equals schedule.

    ``tolerance=None`` is plain ``argmax`` (ties to the lowest index), the rule before ties were
    broken; kept to reproduce figures made with it.

    Shapes: ``logits`` ``[B, N]`` (``-inf`` where infeasible), ``est_finish`` ``[B, N]``.
    """
    if tolerance is None:
        return logits.argmax(-1)
    tied = tied_with_top(logits, tolerance)
    finish = torch.where(tied, est_finish, math.inf)
    earliest = tied & (finish == finish.amin(-1, keepdim=True))
    # A stale row (a finished environment) may hold NaN; fall back to the tied set there.
    earliest = earliest | (tied & ~earliest.any(-1, keepdim=True))
    score = torch.where(earliest, logits, -math.inf)
    best = earliest & (score >= score.amax(-1, keepdim=True) - ROUNDING)
    best = best | (earliest & ~best.any(-1, keepdim=True))
    return best.to(torch.uint8).argmax(-1)  # the first True: the lowest index among what is left


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy ``[B]`` of ``softmax(logits)`` ``[B, N]``; ``-inf`` logits (probability 0) add 0.

    Written so that neither the value nor the gradient is NaN at masked entries.
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    probs = log_probs.exp()
    return -(probs * log_probs.masked_fill(torch.isneginf(log_probs), 0.0)).sum(dim=-1)


def normalised_entropy(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """``[B]`` entropy of ``softmax(logits)`` over the allowed servers / ``log(their count)``.

    1 is uniform over the feasible servers, 0 a certain choice; NaN where fewer than two servers
    are allowed (nothing to choose between).
    """
    log_probs = torch.log_softmax(logits.masked_fill(~allowed, -math.inf), dim=-1)
    terms = torch.where(allowed, log_probs.exp() * log_probs, 0.0)
    count = allowed.sum(-1).to(logits.dtype)
    entropy = -terms.sum(-1) / count.log()
    return torch.where(count >= 2, entropy, math.nan)


class DecisionRecord:
    """What a run of greedy decisions looked like, one entry per step of the live environments.

    Attributes:
        features: z ``[b, D]`` per step.
        tied: ``[b]`` bool per step: two or more feasible servers within the tolerance of the top.
        tied_apart: ``[b]`` bool per step: tied, and the tied servers differ in believed finish
            (the ties where breaking them by index or by finish time can differ).
        entropy: ``[b]`` per step: :func:`normalised_entropy`.
    """

    def __init__(self) -> None:
        self.features: list[torch.Tensor] = []
        self.tied: list[torch.Tensor] = []
        self.tied_apart: list[torch.Tensor] = []
        self.entropy: list[torch.Tensor] = []

    def add(
        self,
        logits: torch.Tensor,
        z: torch.Tensor,
        allowed: torch.Tensor,
        est_finish: torch.Tensor,
        live: torch.Tensor,
        tolerance: float,
    ) -> None:
        """Record the ``live`` rows ``[B]`` of one step (``logits``, ``allowed``, ``est_finish``
        ``[B, N]``, ``z`` ``[B, D]``)."""
        logits, allowed, est_finish = logits[live], allowed[live], est_finish[live]
        top = tied_with_top(logits, tolerance) & allowed
        tied = top.sum(-1) >= 2
        latest = torch.where(top, est_finish, -math.inf).amax(-1)
        earliest = torch.where(top, est_finish, math.inf).amin(-1)
        self.features.append(z[live])
        self.tied.append(tied.cpu())
        self.tied_apart.append((tied & (latest > earliest)).cpu())
        self.entropy.append(normalised_entropy(logits, allowed).cpu())

    def summary(self) -> dict[str, float]:
        """``decisions`` (their count), ``tie_share`` (share of decisions whose top score was tied
        between two or more feasible servers), ``tie_apart_share`` (tied between servers of different
        believed finish), ``entropy`` (mean normalised entropy over the decisions with two or more
        feasible servers) and z's moments ``z_mean``, ``z_std``, ``z_kl``, ``z_decorrelation``
        (:func:`~scale_pl.losses.srr.feature_stats`). NaN where nothing was recorded."""
        tied = torch.cat(self.tied) if self.tied else torch.zeros(0, dtype=torch.bool)
        n = tied.numel()
        out = {"decisions": float(n)}
        out["tie_share"] = tied.float().mean().item() if n else math.nan
        out["tie_apart_share"] = torch.cat(self.tied_apart).float().mean().item() if n else math.nan
        entropy = torch.cat(self.entropy) if self.entropy else torch.zeros(0)
        entropy = entropy[~entropy.isnan()]
        out["entropy"] = entropy.float().mean().item() if entropy.numel() else math.nan
        z = torch.cat(self.features) if self.features else torch.zeros(0, 0)
        stats = feature_stats(z) if z.shape[0] else dict.fromkeys(("mean", "std", "kl", "decorrelation"), math.nan)
        return out | {f"z_{k}": v for k, v in stats.items()}
