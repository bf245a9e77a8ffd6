"""Collecting PPO rollouts from the batched simulator with the live policy."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import torch

from scale_pl.baselines import make_heuristic
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.state import EnvRows
from scale_pl.sim.system.observation import Observation


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
        learn: ``[T, B]`` bool, the policy's own decisions (False for the heuristic warm-up
            prefix, which the losses leave out).
        bootstrap: ``[T, B]`` critic value of the state after step ``t`` where the episode was
            truncated there (0 elsewhere): a truncated episode is not over, so GAE adds
            ``gamma_t * bootstrap_t`` to its last reward.
        last_value: ``[B]`` critic value of the state after the last step (bootstrap).
        episode_returns, episode_art: ``[E]`` of the episodes that ended during the rollout.
        seconds: wall time of the collection.
        cpu_seconds: CPU time of this process during the collection (less sensitive to other
            processes on the machine than the wall time).
        imitation: the actions are a teacher heuristic's (behaviour cloning), not the policy's.
    """

    obs: Observation
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    dts: torch.Tensor
    learn: torch.Tensor
    bootstrap: torch.Tensor
    last_value: torch.Tensor
    episode_returns: torch.Tensor
    episode_art: torch.Tensor
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    imitation: bool = False

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

    Steady-state episodes (``warmup`` and ``decisions_per_server``): the first
    ``warmup_fraction`` of a workload's tasks are placed by the ``warmup`` heuristic (rank-free
    EFT by default), so that the policy's first decision meets a cluster already at the
    workload's load; the policy then decides ``decisions_per_server x N`` tasks, after which
    the episode is truncated (bootstrapped with the critic, not treated as an end) and the
    environment restarts. ``decisions_per_server=None`` runs every episode to its end.

    The warm-up is the same for every episode on a pool entry (the heuristic is deterministic),
    so by default (``cache_warmup``) it is simulated once per entry when collection starts and
    every episode restarts from that saved state and observation: every stored step is then
    the policy's own. With ``cache_warmup=False`` (or the ``random`` heuristic, which is not
    deterministic) the warm-up steps are simulated in the rollout, stored with ``learn`` False
    and left out of the losses.

    Args:
        pool: the training workloads, packed with common padding.
        num_envs: environments stepped together.
        num_steps: steps per rollout.
        seed: draws of pool entries and of actions.
        warmup: heuristic that places the warm-up prefix (None = no warm-up).
        warmup_fraction: share of a workload's tasks placed by ``warmup``.
        decisions_per_server: the policy's decisions per episode, per server (None = to the end).
        cache_warmup: simulate each pool entry's warm-up once and restart episodes from it.
        env_kwargs: passed to :class:`SchedulingEnv` (reward_scale, time_scale, ...).
    """

    WARMUP_TASKS = 1 << 20  # task slots of the pool entries warmed up together (bounds its memory)

    def __init__(
        self,
        pool: WorkloadBatch,
        num_envs: int,
        num_steps: int,
        seed: int,
        warmup: str | None = None,
        warmup_fraction: float = 0.25,
        decisions_per_server: int | None = None,
        cache_warmup: bool = True,
        **env_kwargs,
    ) -> None:
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
        if decisions_per_server is not None and decisions_per_server < 1:
            raise ValueError(f"decisions_per_server must be >= 1, got {decisions_per_server}")
        self.pool, self.num_envs, self.num_steps = pool, num_envs, num_steps
        self.generator = torch.Generator().manual_seed(seed)
        self.warmup = make_heuristic(warmup) if warmup is not None else None
        self.warmup_fraction = warmup_fraction if warmup is not None else 0.0
        self.decisions_per_server = decisions_per_server
        self.cache_warmup = cache_warmup and warmup not in (None, "random")
        self.env_kwargs = env_kwargs
        self.env: SchedulingEnv | None = None
        self.ret: torch.Tensor | None = None
        self.learn_from: torch.Tensor | None = None  # [B] decision count at which the policy takes over
        self.stop_at: torch.Tensor | None = None  # [B] decision count at which the episode is truncated
        self.starts: EnvRows | None = None  # each pool entry's state after its warm-up (cache_warmup)
        self.start_obs: Observation | None = None  # ... and its observation

    def _draw(self, k: int) -> torch.Tensor:
        return torch.randint(self.pool.arrival.shape[0], (k,), generator=self.generator)

    def _episode_bounds(self, batch: WorkloadBatch) -> tuple[torch.Tensor, torch.Tensor]:
        tasks = batch.task_valid.sum(-1)
        learn_from = (tasks.double() * self.warmup_fraction).floor().long()
        if self.decisions_per_server is None:
            return learn_from, torch.full_like(tasks, torch.iinfo(torch.long).max)
        return learn_from, learn_from + self.decisions_per_server * batch.server_valid.sum(-1)

    def warm_up_pool(self) -> tuple[EnvRows, Observation]:
        """Every pool entry's state and observation once ``warmup`` has placed its warm-up prefix."""
        size, tasks = self.pool.type.shape
        chunk = max(1, self.WARMUP_TASKS // tasks)
        states, observations = [], []
        for lo in range(0, size, chunk):
            idx = torch.arange(lo, min(lo + chunk, size), device=self.pool.arrival.device)
            state, obs = self._warm_up(self.pool.select(idx))
            states.append(state)
            observations.append(obs)
        return EnvRows.cat(states), stack_observations(observations)

    def _warm_up(self, batch: WorkloadBatch) -> tuple[EnvRows, Observation]:
        env = SchedulingEnv(batch, **self.env_kwargs)
        learn_from, _ = self._episode_bounds(batch)
        self.warmup.reset(learn_from.numel())
        obs, saved = env.observe(), torch.zeros_like(env.done)
        states, observations, order = [], [], []
        while True:
            reached = ~saved & ((env.num_decisions >= learn_from) | env.done)
            if bool(reached.any()):
                idx = reached.nonzero().flatten()
                states.append(env.snapshot(idx))
                observations.append(obs.index(idx))
                order.append(idx)
                saved |= reached
            if bool(saved.all()):
                break
            obs, _, _ = env.step(self.warmup(obs))
        back = torch.cat(order).argsort()  # chunks were saved in the order they reached learn_from
        return EnvRows.cat(states).select(back), stack_observations(observations).index(back)

    def _start(self, device: torch.device) -> None:
        self.pool = self.pool.to(device)
        if self.cache_warmup:
            self.starts, self.start_obs = self.warm_up_pool()
        entries = self._draw(self.num_envs).to(device)
        batch = self.pool.select(entries)
        self.env = SchedulingEnv(batch, **self.env_kwargs)
        if self.cache_warmup:
            self.env.restore(self.env.b_idx, self.starts.select(entries))
        self.learn_from, self.stop_at = self._episode_bounds(batch)
        if self.decisions_per_server is not None:
            # Stagger the first truncations over the policy's share of an episode: environments
            # that all restarted together would warm up together, leaving rollouts with almost
            # nothing to learn from followed by rollouts of nothing else.
            span = (self.stop_at - self.learn_from).double()
            u = torch.rand(self.num_envs, generator=self.generator, dtype=torch.float64).to(device)
            self.stop_at = self.learn_from + 1 + (u * span).long().clamp(max=span.long() - 1)
        self.ret = torch.zeros(self.num_envs, dtype=torch.float64, device=device)

    def _restart(self, idx: torch.Tensor, obs: Observation) -> Observation:
        """Restart environments ``idx`` on fresh pool entries; returns the batch's next observation."""
        device = idx.device
        entries = self._draw(idx.numel()).to(device)
        batch = self.pool.select(entries)
        self.learn_from[idx], self.stop_at[idx] = self._episode_bounds(batch)
        if not self.cache_warmup:
            self.env.reset_envs(idx, batch)
            return self.env.observe()
        self.env.restore(idx, self.starts.select(entries))
        return put_rows(obs, idx, self.start_obs.index(entries))

    @torch.no_grad()
    def collect(self, policy: torch.nn.Module, teacher=None) -> Rollout:
        """``num_steps`` steps of every environment with ``policy`` sampling its actions.

        With ``teacher`` (a heuristic policy), the teacher chooses the actions instead (stored
        with the policy's log-probability of them) and the rollout is marked ``imitation``.
        """
        t0, c0 = time.perf_counter(), time.process_time()
        device = next(policy.parameters()).device
        if self.env is None or self.env.busy.device != device:
            self._start(device)
        env = self.env
        obs = env.observe()
        was_training = policy.training
        policy.eval()
        steps: dict[str, list[torch.Tensor]] = {k: [] for k in ("action", "log_prob", "value", "reward", "done",
                                                                 "dt", "learn", "bootstrap")}  # fmt: skip
        observations, ended_returns, ended_art = [], [], []
        sample_gen = torch.Generator(device=device).manual_seed(
            int(torch.randint(2**62, (1,), generator=self.generator))
        )
        for _ in range(self.num_steps):
            action, log_prob, value, _ = policy.act(obs, generator=sample_gen)
            learn = env.num_decisions >= self.learn_from
            if teacher is not None:
                action = teacher(policy.shielded(obs) if hasattr(policy, "shielded") else obs)
                log_prob = torch.log_softmax(policy(obs).logits, -1).gather(-1, action[:, None]).squeeze(-1)
            if self.warmup is not None and not bool(learn.all()):
                action = torch.where(learn, action, self.warmup(obs))
            observations.append(obs)
            before = env.clock.clone()
            next_obs, reward, done = env.step(action)
            truncated = ~done & (env.num_decisions >= self.stop_at)
            bootstrap = torch.zeros_like(value)
            if bool(truncated.any()):  # the critic's value of the state the episode was cut at
                cut = truncated.nonzero().flatten()
                bootstrap = bootstrap.index_put((cut,), policy(next_obs.index(cut)).value)
            self.ret += torch.where(learn, reward, 0.0)
            steps["action"].append(action)
            steps["log_prob"].append(log_prob)
            steps["value"].append(value)
            steps["reward"].append(reward.float())
            steps["done"].append(done | truncated)
            steps["dt"].append(torch.where(done, 0.0, env.clock - before).float())
            steps["learn"].append(learn)
            steps["bootstrap"].append(bootstrap)
            ended = done | truncated
            if bool(ended.any()):
                idx = ended.nonzero().flatten()
                ended_returns.append(self.ret[idx].float())
                if bool(done.any()):  # the ART of a truncated episode is not defined
                    ended_art.append(env.response_times()[done].nanmean(1).float())
                self.ret[idx] = 0.0
                next_obs = self._restart(idx, next_obs)
            obs = next_obs
        last_value = policy(obs).value
        policy.train(was_training)
        empty = torch.zeros(0, device=device)
        return Rollout(
            obs=stack_observations(observations),
            actions=torch.stack(steps["action"]),
            log_probs=torch.stack(steps["log_prob"]),
            values=torch.stack(steps["value"]),
            rewards=torch.stack(steps["reward"]),
            dones=torch.stack(steps["done"]),
            dts=torch.stack(steps["dt"]),
            learn=torch.stack(steps["learn"]),
            bootstrap=torch.stack(steps["bootstrap"]),
            last_value=last_value,
            episode_returns=torch.cat(ended_returns) if ended_returns else empty,
            episode_art=torch.cat(ended_art) if ended_art else empty,
            seconds=time.perf_counter() - t0,
            cpu_seconds=time.process_time() - c0,
            imitation=teacher is not None,
        )


def put_rows(obs: Observation, idx: torch.Tensor, rows: Observation) -> Observation:
    """``obs`` with environments ``idx`` ``[k]`` replaced by the ``k`` rows of ``rows`` (new tensors)."""
    replaced = {}
    for f in fields(obs):
        value, new = getattr(obs, f.name), getattr(rows, f.name)
        replaced[f.name] = None if value is None else value.index_put((idx,), new.to(value.dtype))
    return Observation(**replaced)
