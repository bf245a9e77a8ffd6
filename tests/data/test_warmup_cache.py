"""The warm-up cache and the collector's refactoring: same steps, fewer simulated ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from scale_pl.baselines import EarliestFinishTime
from scale_pl.data.rollout import RolloutCollector
from scale_pl.models.policy import build_policy
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.generators.config import load_cluster_spec, load_generator

GOLDEN = Path(__file__).parent / "golden_rollout.json"


def pool(n: int, workflows: int, servers: int = 8) -> WorkloadBatch:
    generator, spec = load_generator(num_workflows=workflows), load_cluster_spec()
    cluster = spec.make(servers, generator.catalogue)
    return WorkloadBatch.from_pairs([(generator.generate(cluster, s), cluster) for s in range(n)])


def assert_same_observation(a, b) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None, name
        else:
            torch.testing.assert_close(x, y, msg=name, equal_nan=True)


def test_restore_puts_environments_back_exactly_and_leaves_the_others_alone() -> None:
    p = pool(3, 5)
    env, eft = SchedulingEnv(p), EarliestFinishTime()
    obs = env.observe()
    for _ in range(6):
        obs, _, _ = env.step(eft(obs))
    saved, saved_obs = env.snapshot(torch.tensor([1])), env.observe().index(torch.tensor([1]))
    for _ in range(4):
        obs, _, _ = env.step(eft(obs))
    untouched = env.finish[[0, 2]].clone()
    held = env.observe()  # an observation taken before the restore keeps its values
    held_speed = held.speed.clone()
    env.restore(torch.tensor([1]), saved)
    assert torch.equal(held.speed, held_speed)
    assert int(env.num_decisions[1]) == 6 and int(env.num_decisions[0]) == 10
    assert torch.equal(env.finish[[0, 2]], untouched)
    assert_same_observation(env.observe().index(torch.tensor([1])), saved_obs)


def test_restore_grows_the_queue_table_to_the_saved_rows() -> None:
    p = pool(2, 6, servers=2)
    deep = SchedulingEnv(p, queue_rows=1)
    obs = deep.observe()
    for _ in range(12):
        obs, _, _ = deep.step(torch.zeros_like(obs.done, dtype=torch.long).masked_fill(~obs.mask[:, 0], 1))
    saved = deep.snapshot(torch.tensor([0]))
    shallow = SchedulingEnv(p, queue_rows=1)
    assert shallow.queue.rows < deep.queue.rows
    shallow.restore(torch.tensor([0]), saved)
    assert shallow.queue.rows == deep.queue.rows
    assert_same_observation(shallow.observe().index(torch.tensor([0])), deep.observe().index(torch.tensor([0])))


def test_the_cached_warmup_is_each_entrys_state_after_eft_placed_its_first_quarter() -> None:
    p = pool(5, 6)
    collector = RolloutCollector(p, num_envs=2, num_steps=4, seed=0, warmup="eft", decisions_per_server=2)
    collector.WARMUP_TASKS = 2 * p.type.shape[1]  # three chunks, entries ending their warm-up in different orders
    starts, start_obs = collector.warm_up_pool()
    learn_from, _ = collector._episode_bounds(p)
    for i in range(5):
        env, eft = SchedulingEnv(p.select(torch.tensor([i]))), EarliestFinishTime()
        obs = env.observe()
        for _ in range(int(learn_from[i])):
            obs, _, _ = env.step(eft(obs))
        assert int(starts.state["num_decisions"][i]) == int(learn_from[i])
        assert torch.equal(starts.state["finish"][i], env.finish[0])
        assert_same_observation(start_obs.index(torch.tensor([i])), obs)


class Greedy(nn.Module):
    """A deterministic stand-in for the policy: the collector's calls, the argmax of the logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = build_policy(6, 4)

    def forward(self, obs):
        return self.net(obs)

    def act(self, obs, generator=None):
        logits, value, z = self.net(obs)
        action = logits.argmax(-1)
        return action, torch.log_softmax(logits, -1).gather(-1, action[:, None]).squeeze(-1), value, z


def per_env_learnable(collector: RolloutCollector, policy: nn.Module, rollouts: int) -> list[list[tuple]]:
    """Environment b's learnable steps, in order: (action, reward, dt, done, bootstrap)."""
    steps: list[list[tuple]] = [[] for _ in range(collector.num_envs)]
    for _ in range(rollouts):
        r = collector.collect(policy)
        for t in range(r.num_steps):
            for b in range(r.num_envs):
                if r.learn[t, b]:
                    fields = (r.actions, r.rewards, r.dts, r.dones, r.bootstrap)
                    steps[b].append(tuple(round(float(x[t, b]), 4) for x in fields))
    return steps


def test_the_cache_gives_the_policy_the_same_steps_as_simulating_the_warmup() -> None:
    """One pool entry (every draw is the same workload), a deterministic policy: each environment
    sees the same sequence of learnable steps with and without the cache; the cache only drops
    the warm-up steps from the rollouts."""
    one = pool(1, 6)
    policy = Greedy().eval()
    kwargs = {"num_envs": 3, "num_steps": 25, "seed": 4, "warmup": "eft", "decisions_per_server": 2}
    cached = RolloutCollector(one, **kwargs)
    simulated = RolloutCollector(one, cache_warmup=False, **kwargs)
    fast = per_env_learnable(cached, policy, 4)
    slow = per_env_learnable(simulated, policy, 8)
    for b in range(3):
        k = len(slow[b])
        assert k >= 2 * 2 * 8 and fast[b][:k] == slow[b], b  # at least two whole episodes compared
    first = cached.collect(policy)
    assert first.learn.all()


def fingerprint(collector: RolloutCollector, policy: nn.Module, rollouts: int) -> list[dict]:
    keys = ("actions", "learn", "dones", "rewards", "values", "log_probs", "bootstrap", "dts", "last_value",
            "episode_returns", "episode_art")  # fmt: skip
    rollouts_ = [collector.collect(policy) for _ in range(rollouts)]
    return [{k: getattr(r, k).tolist() for k in keys} for r in rollouts_]


def test_without_the_cache_a_seed_gives_the_rollouts_of_before_the_refactoring() -> None:
    """``golden_rollout.json`` was written by the collector before it bootstrapped only the truncated
    rows, skipped the metrics of truncations and restarted environments from saved states
    (commit 538f359): the same seed still gives the same rollouts."""
    torch.set_num_threads(1)
    p = pool(6, 6)
    torch.manual_seed(0)
    policy = build_policy(6, 4)
    collector = RolloutCollector(p, num_envs=5, num_steps=40, seed=7, warmup="eft", decisions_per_server=2,
                                 cache_warmup=False)  # fmt: skip
    got, expected = fingerprint(collector, policy, 3), json.loads(GOLDEN.read_text())
    for new, old in zip(got, expected, strict=True):
        for key in ("actions", "learn", "dones"):
            assert new[key] == old[key], key
        for key in ("rewards", "values", "log_probs", "bootstrap", "dts", "last_value", "episode_returns"):
            torch.testing.assert_close(torch.tensor(new[key]), torch.tensor(old[key]), rtol=1e-5, atol=1e-6,
                                       msg=key)  # fmt: skip


@pytest.mark.parametrize("warmup", ["random", None])
def test_nothing_is_cached_without_a_deterministic_warmup(warmup) -> None:
    collector = RolloutCollector(pool(2, 4), num_envs=2, num_steps=3, seed=0, warmup=warmup)
    assert not collector.cache_warmup
