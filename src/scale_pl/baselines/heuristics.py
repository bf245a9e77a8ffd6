"""Heuristic policies over :class:`~scale_pl.sim.system.observation.Observation`.

A policy is any object with ``reset(batch_size)`` and ``__call__(obs) -> [B] long`` server
indices. They read only the raw observation fields (mask, est_finish, backlog, speed, slack),
which both simulators provide, so the same code runs in the batched env and in the oracle.
Ties go to the lowest server index.
"""

from __future__ import annotations

from typing import Protocol

import torch

from scale_pl.errors import ScaleError
from scale_pl.sim.system.observation import Observation

INF = float("inf")


class Policy(Protocol):
    def reset(self, batch_size: int) -> None: ...

    def __call__(self, obs: Observation) -> torch.Tensor: ...


def _first_min(score: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Index of the smallest score among allowed servers (lowest index on ties); 0 where none is allowed."""
    return torch.where(allowed, score, INF).argmin(1)


class RandomPolicy:
    """Uniform over the feasible servers, from a seeded generator."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def reset(self, batch_size: int) -> None:
        self.generator.manual_seed(self.seed)

    def __call__(self, obs: Observation) -> torch.Tensor:
        weights = obs.mask.float().cpu()
        weights[weights.sum(1) == 0] = 1.0  # finished envs: any server
        return torch.multinomial(weights, 1, generator=self.generator).squeeze(1).to(obs.mask.device)


class RoundRobin:
    """The next feasible server after the previously chosen one, cyclically."""

    def __init__(self) -> None:
        self.pointer: torch.Tensor | None = None

    def reset(self, batch_size: int) -> None:
        self.pointer = torch.zeros(batch_size, dtype=torch.long)

    def __call__(self, obs: Observation) -> torch.Tensor:
        b, n = obs.mask.shape
        if self.pointer is None or self.pointer.shape[0] != b:
            self.reset(b)
        self.pointer = self.pointer.to(obs.mask.device)
        distance = (torch.arange(n, device=obs.mask.device) - self.pointer[:, None]) % n
        choice = _first_min(distance.float(), obs.mask)
        self.pointer = torch.where(obs.done, self.pointer, (choice + 1) % n)
        return choice


class LeastLoaded:
    """The feasible server with the smallest backlog; ties broken by earliest finish."""

    def reset(self, batch_size: int) -> None:
        pass

    def __call__(self, obs: Observation) -> torch.Tensor:
        backlog = torch.where(obs.mask, obs.backlog, INF)
        tied = obs.mask & (backlog == backlog.amin(1, keepdim=True))
        return _first_min(obs.est_finish, tied)


class EarliestFinishTime:
    """The feasible server where the task is expected to finish first, transfer included (online HEFT)."""

    def reset(self, batch_size: int) -> None:
        pass

    def __call__(self, obs: Observation) -> torch.Tensor:
        return _first_min(obs.est_finish, obs.mask)


class RankAwareEFT:
    """EFT that spends a task's slack (by upward rank) to keep fast servers for critical tasks.

    A task whose bottom level is below the largest bottom level among its workflow's undecided
    tasks has ``slack`` seconds to spare. Any feasible server whose expected finish is within
    ``slack_fraction x slack`` of the best qualifies; among those the slowest for this type is
    taken (ties: earliest finish). A task on the critical path (slack 0) gets plain EFT.

    Args:
        slack_fraction: share of the slack that may be spent (0 = plain EFT).
    """

    def __init__(self, slack_fraction: float = 0.5) -> None:
        if slack_fraction < 0:
            raise ScaleError(f"slack_fraction must be >= 0, got {slack_fraction}")
        self.slack_fraction = slack_fraction

    def reset(self, batch_size: int) -> None:
        pass

    def __call__(self, obs: Observation) -> torch.Tensor:
        eft = torch.where(obs.mask, obs.est_finish, INF)
        best = eft.amin(1, keepdim=True)
        window = (self.slack_fraction * obs.slack.clamp_min(0.0))[:, None]
        candidates = obs.mask & (eft <= best + window)
        slowest = torch.where(candidates, obs.speed, INF).amin(1, keepdim=True)
        return _first_min(eft, candidates & (obs.speed == slowest))


class ReplayPolicy:
    """Replays recorded actions ``[steps, B]``: how the oracle is driven with the batched env's choices."""

    def __init__(self, actions: torch.Tensor) -> None:
        self.actions = actions
        self.step = 0

    def reset(self, batch_size: int) -> None:
        self.step = 0

    def __call__(self, obs: Observation) -> torch.Tensor:
        action = self.actions[self.step]
        self.step += 1
        return action
