"""Collecting PPO rollouts from the batched simulator with the live policy."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import torch

from scale_pl.sim.batch import WorkloadBatch
from scale_pl.sim.env import SchedulingEnv
from scale_pl.sim.observation import Observation


def stack_observations(observations: list[Observation]) -> Observation:
    """``T`` observations of ``B`` rows -> one observation of ``T * B`` rows (time-major)."""
    first = observations[0]
    stacked = {}
    for f in fields(first):
        values = [getattr(o, f.name) for o in observations]
        stacked[f.name] = None if values[0] is None else torch.cat(values, dim=0)
    return Observation(**stacked)


@dataclass
class Rollout:
    """``T`` steps of ``B`` environments, flattened time-major to ``T * B`` rows where noted.

    Attributes:
        obs: the observations (``T * B`` rows).
        actions, log_probs, values, rewards, dones: ``[T, B]``; ``dones[t]`` marks an episode
            that ended with step ``t`` (its environment restarted on a new workload).
        dts: ``[T, B]`` seconds from decision ``t`` to the environment's next decision (0 where
            the episode ended), for a discount in time.
        last_value: ``[B]`` critic value of the state after the last step (bootstrap).
        episode_returns, episode_art: ``[E]`` of the episodes that ended during the rollout.
        seconds: wall time of the collection.
    """

    obs: Observation
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    dts: torch.Tensor
    last_value: torch.Tensor
    episode_returns: torch.Tensor
    episode_art: torch.Tensor
    seconds: float = 0.0

    @property
    def num_steps(self) -> int:
        return self.actions.shape[0]

    @property
    def num_envs(self) -> int:
        return self.actions.shape[1]


class RolloutCollector:
    """Runs ``num_envs`` environments continuously; each :meth:`collect` advances them ``num_steps``.

    An environment whose episode ends restarts at once on a workload drawn from ``pool``
    (rollouts are truncated and bootstrapped with the critic, so episodes may span rollouts).

    Args:
        pool: the training workloads, packed with common padding.
        num_envs: environments stepped together.
        num_steps: steps per rollout.
        seed: draws of pool entries and of actions.
        env_kwargs: passed to :class:`SchedulingEnv` (reward_scale, time_scale, ...).
    """

    def __init__(self, pool: WorkloadBatch, num_envs: int, num_steps: int, seed: int, **env_kwargs) -> None:
        self.pool, self.num_envs, self.num_steps = pool, num_envs, num_steps
        self.generator = torch.Generator().manual_seed(seed)
        self.env_kwargs = env_kwargs
        self.env: SchedulingEnv | None = None
        self.ret: torch.Tensor | None = None

    def _draw(self, k: int) -> torch.Tensor:
        return torch.randint(self.pool.arrival.shape[0], (k,), generator=self.generator)

    def _start(self, device: torch.device) -> None:
        self.pool = self.pool.to(device)
        self.env = SchedulingEnv(self.pool.select(self._draw(self.num_envs)), **self.env_kwargs)
        self.ret = torch.zeros(self.num_envs, dtype=torch.float64, device=device)

    @torch.no_grad()
    def collect(self, policy: torch.nn.Module) -> Rollout:
        """``num_steps`` steps of every environment with ``policy`` sampling its actions."""
        t0 = time.perf_counter()
        device = next(policy.parameters()).device
        if self.env is None or self.env.busy.device != device:
            self._start(device)
        env = self.env
        obs = env.observe()
        was_training = policy.training
        policy.eval()
        observations, actions, log_probs, values, rewards, dones, dts = [], [], [], [], [], [], []
        ended_returns, ended_art = [], []
        sample_gen = torch.Generator(device=device).manual_seed(
            int(torch.randint(2**62, (1,), generator=self.generator))
        )
        for _ in range(self.num_steps):
            action, log_prob, value, _ = policy.act(obs, generator=sample_gen)
            observations.append(obs)
            before = env.clock.clone()
            next_obs, reward, done = env.step(action)
            dts.append(torch.where(done, 0.0, env.clock - before).float())
            self.ret += reward
            actions.append(action)
            log_probs.append(log_prob)
            values.append(value)
            rewards.append(reward.float())
            dones.append(done.clone())
            if bool(done.any()):
                idx = done.nonzero().flatten()
                ended_returns.append(self.ret[idx].float())
                ended_art.append(env.metrics()["art"][idx].float())
                self.ret[idx] = 0.0
                env.reset_envs(idx, self.pool.select(self._draw(idx.numel()).to(device)))
                next_obs = env.observe()
            obs = next_obs
        last_value = policy(obs).value
        policy.train(was_training)
        empty = torch.zeros(0, device=device)
        return Rollout(
            obs=stack_observations(observations),
            actions=torch.stack(actions),
            log_probs=torch.stack(log_probs),
            values=torch.stack(values),
            rewards=torch.stack(rewards),
            dones=torch.stack(dones),
            dts=torch.stack(dts),
            last_value=last_value,
            episode_returns=torch.cat(ended_returns) if ended_returns else empty,
            episode_art=torch.cat(ended_art) if ended_art else empty,
            seconds=time.perf_counter() - t0,
        )
