"""Censoring: stop an episode once its average response time is certain to exceed a cap.

A collapsed policy piles work onto a few servers; its episode then takes 10-100x longer to
simulate (the queue tables grow) and its ART is far beyond any useful figure. Evaluation caps it
at ``K`` times EFT's ART on the same workload: at the first decision where the *certain lower
bound* on the final ART exceeds the cap, the environment stops and is reported as censored.

The bound at decision time ``now`` (:func:`workflow_bounds`, :func:`art_bound`): a workflow whose
every task is placed contributes its response time (completion - arrival, known at placement); a
workflow that has arrived by ``now`` with a task not yet placed contributes
``max(now, latest finish among its placed tasks) - arrival`` (its unplaced task is decided at
``now`` or later and finishes after that, and no placed task finishes later than it is known to);
a workflow not yet arrived contributes 0. The sum over workflows, divided by their number, never
exceeds the final ART, and it never decreases from one decision to the next.
"""

from __future__ import annotations

import torch

from scale_pl.sim.batched.state import EnvState

INF = float("inf")


def latest_finish(env: EnvState) -> torch.Tensor:
    """``[B, W+1]`` the latest finish among each workflow's placed tasks (``-inf`` if none is placed)."""
    bs, w1, m = env.batch.shape
    return torch.where(torch.isfinite(env.finish), env.finish, -INF).view(bs, w1, m).amax(-1)


def workflow_bounds(env: EnvState, now: torch.Tensor | None = None, latest: torch.Tensor | None = None) -> torch.Tensor:
    """Certain lower bound on each workflow's response time at decision time ``now``.

    ``now`` ``[B]`` defaults to the environments' clock (``inf`` for a finished environment,
    where every workflow is complete); ``latest`` ``[B, W+1]`` to :func:`latest_finish` (a caller
    that keeps it up to date saves a pass over every task). Returns ``[B, W+1]`` seconds, NaN on
    padding.
    """
    b = env.batch
    now = env.clock if now is None else now
    latest = latest_finish(env) if latest is None else latest
    running = torch.maximum(now[:, None], latest) - b.arrival  # an arrived, unfinished workflow
    arrived = b.arrival <= now[:, None]
    complete = torch.isfinite(env.completion)
    bound = torch.where(complete, env.completion - b.arrival, torch.where(arrived, running, 0.0))
    return torch.where(b.wf_valid, bound, float("nan"))


def art_bound(env: EnvState, now: torch.Tensor | None = None, latest: torch.Tensor | None = None) -> torch.Tensor:
    """Certain lower bound on the final ART ``[B]`` at decision time ``now`` (see the module doc and
    :func:`workflow_bounds`)."""
    return workflow_bounds(env, now, latest).nansum(1) / env.batch.wf_valid.sum(1).clamp_min(1)


def stop(env: EnvState, rows: torch.Tensor) -> None:
    """Stop the environments ``rows`` ``[B]`` bool: no task of theirs becomes ready again, so they
    are done from now on and ignore their actions; placed tasks, completions and the queue table
    keep their values (the state at the stop). The other environments are untouched.

    The environment finds its next decision from ``ready`` and the per-workflow minimum it keeps of
    it (``wf_min``); both go to ``inf`` here, as at the end of an episode.
    """
    keep = ~rows[:, None]
    env.ready = torch.where(keep, env.ready, INF)
    if hasattr(env, "wf_min"):
        env.wf_min = torch.where(keep, env.wf_min, INF)
    env.clock = torch.where(rows, INF, env.clock)
    env.done = env.done | rows


class ArtCap:
    """A cap on each environment's ART, checked by :func:`~scale_pl.sim.batched.rollout.run_episode`.

    Args:
        limit: ``[B]`` seconds (``K`` x EFT's ART on each environment's workload); ``inf`` = no cap.

    After the episode: ``censored`` ``[B]`` bool (stopped by the cap), ``stop_time`` ``[B]`` (the
    decision time of the stop; ``nan`` where not censored) and ``bound`` ``[B]`` (the certain lower
    bound on ART at the stop, ``> limit``; ``nan`` where not censored).

    :meth:`check` runs at every decision. It keeps each workflow's latest placed finish itself, from
    the one task each environment placed since the last check, instead of a pass over every task
    slot (at N=256 that pass cost a third of a step: three quarters of the slots are padding).
    """

    def __init__(self, limit: torch.Tensor) -> None:
        self.limit = limit
        self.censored = torch.zeros(limit.shape, dtype=torch.bool, device=limit.device)
        self.stop_time = torch.full_like(limit, float("nan"))
        self.bound = torch.full_like(limit, float("nan"))
        self.latest: torch.Tensor | None = None  # [B, W+1] latest placed finish per workflow, at the last check
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None  # the task and workflow being decided

    def _update_latest(self, env: EnvState) -> torch.Tensor:
        """Each workflow's latest placed finish, brought up to date with the last step's placements."""
        if self.latest is None:
            self.latest = latest_finish(env)
        elif self._pending is not None:
            task, wf = self._pending  # placed by the step since the last check (finish stays inf if not)
            finish = env.finish.gather(1, task[:, None])
            placed = torch.where(torch.isfinite(finish), finish, -INF)
            self.latest = self.latest.scatter_reduce(1, wf[:, None], placed, "amax")
        self._pending = (env.cur_task.clone(), env.cur_wf.clone())
        return self.latest

    def check(self, env: EnvState) -> bool:
        """Stop the environments whose bound now exceeds the limit; True if any environment was stopped."""
        latest = self._update_latest(env)
        live = ~env.done & torch.isfinite(self.limit)
        if not bool(live.any()):
            return False
        bound = art_bound(env, latest=latest)
        over = live & (bound > self.limit)
        if not bool(over.any()):
            return False
        self.censored |= over
        self.stop_time = torch.where(over, env.clock, self.stop_time)
        self.bound = torch.where(over, bound, self.bound)
        stop(env, over)
        return True

    def workflow_bounds(self, env: EnvState) -> torch.Tensor:
        """``[B, W+1]`` each workflow's response-time lower bound at the stop (the stopped rows only;
        NaN elsewhere and on padding)."""
        now = torch.where(self.censored, self.stop_time, 0.0)
        return torch.where(self.censored[:, None], workflow_bounds(env, now), float("nan"))
