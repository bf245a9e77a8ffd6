"""The batched env against the reference simulator: same server, start and finish for every task."""

from __future__ import annotations

import math

import pytest
import torch

from scale_pl.baselines import HEURISTICS, RandomPolicy, ReplayPolicy, make_heuristic
from scale_pl.sim.reference import ReferenceSimulator
from tests.sim.builders import make_env, random_setup, task_table

SEEDS = range(240)
GROUP = 48  # environments per batch: different N, slots and workloads side by side (padding exercised)


def assert_same(batched, reference, context: str) -> None:
    ref = [(s, st, fi) for srv, sta, fin in zip(reference.server, reference.start, reference.finish, strict=True)
           for s, st, fi in zip(srv, sta, fin, strict=True)]  # fmt: skip
    assert len(batched) == len(ref), context
    for i, ((s1, st1, f1), (s2, st2, f2)) in enumerate(zip(batched, ref, strict=True)):
        assert s1 == s2, f"{context}: task {i} on server {s1} vs {s2}"
        assert math.isclose(st1, st2, rel_tol=1e-5, abs_tol=1e-9), f"{context}: task {i} start {st1} vs {st2}"
        assert math.isclose(f1, f2, rel_tol=1e-5, abs_tol=1e-9), f"{context}: task {i} finish {f1} vs {f2}"


def run_batched(env, policy):
    """Run to the end; return actions [steps, B] and returns [B]."""
    obs = env.observe()
    policy.reset(obs.batch_size)
    actions, ret = [], torch.zeros(obs.batch_size, dtype=torch.float64)
    while not bool(env.done.all()):
        action = policy(obs)
        actions.append(torch.where(env.done, -1, action))
        obs, reward, _ = env.step(action)
        ret += reward
    return torch.stack(actions), ret


@pytest.mark.parametrize("policy_name", [*HEURISTICS, "replayed_random"])
@pytest.mark.parametrize("group", range(len(SEEDS) // GROUP))
def test_batched_matches_reference(policy_name: str, group: int) -> None:
    seeds = SEEDS[group * GROUP : (group + 1) * GROUP]
    setups = [random_setup(s) for s in seeds]
    env = make_env(setups)
    policy = RandomPolicy(seed=group) if policy_name == "replayed_random" else make_heuristic(policy_name)
    actions, returns = run_batched(env, policy)
    metrics = env.metrics()
    for b, (seed, (workload, cluster)) in enumerate(zip(seeds, setups, strict=True)):
        context = f"seed {seed} N={cluster.num_servers} policy {policy_name}"
        if policy_name in ("random", "replayed_random"):
            mine = actions[:, b]
            ref_policy = ReplayPolicy(mine[mine >= 0][:, None])
        else:
            ref_policy = make_heuristic(policy_name)
            ref_policy.reset(1)
        result = ReferenceSimulator(workload, cluster, reward_scale=env.reward_scale).run(ref_policy)
        assert_same(task_table(env, b, workload), result, context)
        assert math.isclose(float(returns[b]), sum(result.rewards), rel_tol=1e-6), context
        for name, value in result.metrics.items():
            assert math.isclose(float(metrics[name][b]), value, rel_tol=1e-6), f"{context}: {name}"


def test_random_setups_cover_the_space() -> None:
    """The seeds above really span N 1..64, several slot counts, transfers on and off, all patterns."""
    setups = [random_setup(s) for s in SEEDS]
    sizes = {c.num_servers for _, c in setups}
    assert min(sizes) <= 3 and max(sizes) >= 60
    assert {int(s) for _, c in setups for s in c.slots} >= {1, 2, 3, 4}
    transfers = {bool(any(f.output_mb.any() for f in w.workflows)) for w, _ in setups}
    assert transfers == {True, False}
    patterns = {f.pattern for w, _ in setups for f in w.workflows}
    assert len(patterns) == 7
