"""A lookahead reference policy: try every feasible server on copies of the env, finish with EFT.

Slow (each decision steps ``B x N`` copies of the environment ``horizon`` times) and only for
evaluation: it shows how much room there is above EFT.
"""

from __future__ import annotations

import torch

from scale_pl.baselines.heuristics import EarliestFinishTime
from scale_pl.errors import ScaleError
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.what_if import believed_env
from scale_pl.sim.system.observation import Observation


class Lookahead:
    """At each decision, place the task on each feasible server in a copy of the environment, continue
    every copy with EFT for ``horizon`` decisions, and take the server whose copy has the lowest cost.

    The copies are of the world as the scheduler believes it (:func:`~scale_pl.sim.batched.what_if.believed_env`):
    unfinished and future tasks take their expected work, so the search knows no more than EFT does.

    The cost of a copy is the sum over arrived workflows of (latest known finish - arrival): the
    response time each workflow would have if it ended with the tasks placed so far, a lower bound
    that every copy measures after the same number of decisions. ``horizon=0`` is a one-step
    greedy on that cost.

    Args:
        horizon: EFT decisions simulated after the tried placement.

    The policy needs the environment, not just the observation: :func:`~scale_pl.sim.batched.rollout.run_episode`
    calls :meth:`bind` before the episode.
    """

    def __init__(self, horizon: int = 10) -> None:
        if horizon < 0:
            raise ScaleError(f"lookahead horizon must be >= 0, got {horizon}")
        self.horizon = horizon
        self.env: SchedulingEnv | None = None

    def bind(self, env: SchedulingEnv) -> None:
        self.env = env

    def reset(self, batch_size: int) -> None:
        pass

    @torch.no_grad()
    def __call__(self, obs: Observation) -> torch.Tensor:
        if self.env is None:
            raise RuntimeError("Lookahead needs the environment: call bind(env) first (run_episode does)")
        b, n = obs.mask.shape
        fallback = EarliestFinishTime()(obs)
        tried = torch.arange(n, device=obs.mask.device).repeat(b)  # copy b*n + j places on server j
        feasible = obs.mask.flatten()
        copies = believed_env(self.env).repeat_interleave(n)  # search what the scheduler knows, not the truth
        copies.check_actions = False
        copy_obs, _, _ = copies.step(torch.where(feasible, tried, fallback.repeat_interleave(n)))
        policy = EarliestFinishTime()
        for _ in range(self.horizon):
            if bool(copies.done.all()):
                break
            copy_obs, _, _ = copies.step(policy(copy_obs))
        cost = self._cost(copies).view(b, n)
        cost = torch.where(obs.mask, cost, float("inf"))
        return torch.where(obs.mask.any(1), cost.argmin(1), fallback)

    @staticmethod
    def _cost(env: SchedulingEnv) -> torch.Tensor:
        """Sum over arrived workflows of (latest finish of their placed tasks - arrival), ``[copies]``."""
        arrival = env.batch.arrival
        started = env.batch.wf_valid & (
            env.wf_left < env.batch.task_valid.view(arrival.shape[0], arrival.shape[1], -1).sum(-1)
        )
        late = (env.wf_finish - arrival).clamp_min(0.0)
        return torch.where(started, late, 0.0).sum(1)
