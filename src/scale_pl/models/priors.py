"""Heuristic priors that anchor the pointer: ``logits = prior + residual``.

The learned pointer's score (the residual, bounded to ``+-c`` by the decoder's ``tanh_clip``)
is added to a size-free score computed from what the scheduler believes of each server, so
that whatever the network does outside its training range (more servers, other loads, other
workflows), a choice far from the heuristic costs at least ``2c`` against it. The prior is part
of the logits the policy samples from and re-scores, so PPO trains under it.

An optional shield is the hard version of the same bound: servers whose believed finish is more
than ``shield`` x the earliest, or more than ``delay_shield`` seconds after it, are not offered to
the pointer at all (they are removed from the allowed servers before the policy scores them, in
training as in scheduling). The factor is size-free like the prior; the delay is not, on purpose:
the objective adds seconds, and a choice that gives up 400 s on a 900 s download (a ratio of 1.4)
costs the workflow those 400 s.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scale_pl.sim.system.observation import Observation

PRIORS = ("none", "eft", "rank_eft")
# Believed finish times and speeds are floored here before a log: a zero (a task of no expected
# work on an idle server) must not become -inf.
_FLOOR = 1e-9


def _inverse_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


class HeuristicPrior(nn.Module):
    """A size-free score per server from the believed finish times of the observation.

    ``kind`` chooses the score (``e_i`` = ``Observation.est_finish``, ``e*`` its minimum over the
    allowed servers):

    - ``"eft"``: ``-kappa * log(e_i / e*)``; 0 at the earliest finish, ``-kappa log 2`` at a
      server that would take twice as long.
    - ``"rank_eft"``: rank-aware EFT's preference
      (:class:`~scale_pl.baselines.heuristics.RankAwareEFT`) as a score. That rule admits every
      server whose finish is within the task's spendable slack, ``d = e* + slack_fraction *
      max(slack, 0)``, and takes the slowest of them. Here a server past the deadline scores
      ``-kappa * log(e_i / d)`` (the eft score, measured from the deadline), a server within it
      ``-kappa * log(v_i / v_min)``, ``v`` its speed for the task's type and ``v_min`` the
      slowest speed within the deadline. The slowest admitted servers score 0, every other
      server less, so the argmax is the rule's choice (its ties, earliest finish first, are
      what the greedy tie-break does); with no slack it is the eft score.
    - ``"none"``: 0 everywhere (the plain pointer).

    Servers outside ``allowed`` and rows with no allowed server score 0 (the decoder masks them),
    so stale or infinite fields there stay harmless.

    Args:
        kind: ``"eft"``, ``"rank_eft"`` or ``"none"``.
        kappa: the prior's strength (> 0), in logits per unit of log-ratio.
        learn_kappa: learn kappa (as ``softplus`` of a parameter, so it stays positive) instead of
            keeping it fixed.
        slack_fraction: ``rank_eft`` only: the share of the slack that may be spent.
        shield: if set (>= 1), only the servers whose believed finish is within ``shield`` x the
            earliest allowed one stay allowed (:meth:`admit`); None = no shield.
        delay_shield: if set (>= 0, seconds), only the servers whose believed finish is at most
            ``delay_shield`` seconds after the earliest allowed one stay allowed; None = none.
            With both set, a server must pass both.

    Shapes:
        - input: an :class:`~scale_pl.sim.system.observation.Observation` with ``B`` rows and
          ``N`` servers, ``allowed`` ``[B, N]`` bool
        - output: ``[B, N]`` finite scores, 0 outside ``allowed``
    """

    def __init__(
        self,
        kind: str = "eft",
        kappa: float = 3.0,
        learn_kappa: bool = False,
        slack_fraction: float = 0.5,
        shield: float | None = None,
        delay_shield: float | None = None,
    ) -> None:
        super().__init__()
        if kind not in PRIORS:
            raise ValueError(f"prior kind must be one of {', '.join(PRIORS)}, got {kind!r}")
        if not kappa > 0 or not math.isfinite(kappa):
            raise ValueError(f"prior kappa must be a finite number > 0, got {kappa}")
        if not slack_fraction >= 0:
            raise ValueError(f"prior slack_fraction must be >= 0, got {slack_fraction}")
        if shield is not None and not (1 <= shield < math.inf):
            raise ValueError(f"prior shield must be a finite number >= 1 (or None), got {shield}")
        if delay_shield is not None and not (0 <= delay_shield < math.inf):
            raise ValueError(
                f"prior delay_shield must be a finite number of seconds >= 0 (or None), got {delay_shield}"
            )
        self.shield = shield
        self.delay_shield = delay_shield
        self.kind = kind
        self.learn_kappa = learn_kappa
        self.slack_fraction = slack_fraction
        self.initial_kappa = kappa
        self.raw_kappa = nn.Parameter(torch.tensor(_inverse_softplus(kappa))) if learn_kappa else None

    def reset_parameters(self) -> None:
        if self.raw_kappa is not None:
            nn.init.constant_(self.raw_kappa, _inverse_softplus(self.initial_kappa))

    @property
    def kappa(self) -> torch.Tensor | float:
        """The strength in use: a scalar tensor when learned, else the float given."""
        return F.softplus(self.raw_kappa) if self.raw_kappa is not None else self.initial_kappa

    @property
    def shields(self) -> bool:
        """Whether :meth:`admit` can remove servers (a factor or a delay shield is set)."""
        return self.shield is not None or self.delay_shield is not None

    def admit(self, obs: Observation, allowed: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` bool: ``allowed`` less the servers the shields remove (``allowed`` itself without one).

        A server stays if its believed finish is at most ``shield`` x the earliest allowed one and
        at most ``delay_shield`` seconds after it, so the earliest stays and a row with an allowed
        server keeps one. Non-finite believed finishes outside ``allowed`` are ignored; one inside
        it (a server that would never finish) is removed unless every allowed server's is
        infinite, then the row is left as it was.
        """
        if not self.shields:
            return allowed
        eft = torch.where(allowed, obs.est_finish, math.inf)
        best = eft.amin(-1, keepdim=True)
        keep = allowed & torch.isfinite(eft)
        if self.shield is not None:
            keep &= eft <= self.shield * best
        if self.delay_shield is not None:
            keep &= eft <= best + self.delay_shield
        return torch.where(keep.any(-1, keepdim=True), keep, allowed)

    def forward(self, obs: Observation, allowed: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` prior scores (see the class docstring)."""
        if self.kind == "none":
            return torch.zeros(allowed.shape, dtype=obs.est_finish.dtype, device=allowed.device)
        # Replace every value outside `allowed` before any arithmetic: inf - inf or 0 * inf would
        # poison the row (and kappa's gradient) even where the result is masked away.
        eft = torch.where(allowed, obs.est_finish, 1.0).clamp_min(_FLOOR)  # the observation's dtype (float64)
        best = torch.where(allowed, eft, math.inf).amin(-1, keepdim=True)
        best = torch.where(torch.isfinite(best), best, 1.0)  # rows with nothing allowed
        rank = self.kind == "rank_eft"
        log_ratio = self._rank_eft_log_ratio(obs, allowed, eft, best) if rank else torch.log(eft / best)
        return torch.where(allowed, -self.kappa * log_ratio, 0.0)

    def _rank_eft_log_ratio(
        self, obs: Observation, allowed: torch.Tensor, eft: torch.Tensor, best: torch.Tensor
    ) -> torch.Tensor:
        """``[B, N]`` >= 0: log(e_i / d) past the deadline ``d``, log(v_i / v_min) within it."""
        slack = torch.where(obs.done, 0.0, obs.slack).clamp_min(0.0)
        deadline = best + self.slack_fraction * slack.unsqueeze(-1)  # [B, 1]
        admitted = allowed & (eft <= deadline)  # holds the best server, so never empty where allowed
        speed = torch.where(allowed, obs.speed, 1.0).clamp_min(_FLOOR)
        slowest = torch.where(admitted, speed, math.inf).amin(-1, keepdim=True)
        slowest = torch.where(torch.isfinite(slowest), slowest, 1.0)
        return torch.where(admitted, torch.log(speed / slowest), torch.log(eft / deadline))

    def extra_repr(self) -> str:
        extra = f", slack_fraction={self.slack_fraction}" if self.kind == "rank_eft" else ""
        extra += f", shield={self.shield}" if self.shield is not None else ""
        extra += f", delay_shield={self.delay_shield}" if self.delay_shield is not None else ""
        kappa = (
            f"{float(self.kappa.detach()):.4g} (learned from {self.initial_kappa})" if self.learn_kappa else self.kappa
        )
        return f"kind={self.kind!r}, kappa={kappa}{extra}"
