"""The batched environment on a workload small enough to schedule by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scale_pl.baselines import EarliestFinishTime
from scale_pl.sim.system.catalogue import Catalogue, Primitive
from scale_pl.sim.system.cluster import Cluster, Network, ServerClass
from scale_pl.sim.system.workload import Workflow, Workload
from tests.sim.builders import make_env


def tiny() -> tuple[Workload, Cluster]:
    """Server 0: speed 1; server 1: speed 2; one slot each; transfer = 0.1 + 10 MB / 10 MB/s = 1.1 s.

    w0 arrives at 0 with a -> b (work 2 and 4); w1 arrives at 1 with c (work 1). Latency 0.5.
    """
    cat = Catalogue([Primitive("x", work=1.0, cv=0.0, latency=0.5, output_mb=10.0)])
    classes = [ServerClass("slow", {"x": 1.0}, slots=1), ServerClass("fast", {"x": 2.0}, slots=1)]
    cluster = Cluster(cat, classes, np.array([0, 1]), Network(latency=0.1, bandwidth_mbps=10.0))
    w0 = Workflow("w0", 0.0, [0, 0], [2.0, 4.0], [2.0, 4.0], [10.0, 10.0], [[0, 1]])
    w1 = Workflow("w1", 1.0, [0], [1.0], [1.0], [10.0], np.zeros((0, 2)))
    return Workload(cat, [w0, w1]), cluster


def test_hand_computed_schedule_rewards_and_metrics() -> None:
    env = make_env([tiny()], reward_scale=1.0)
    _, _, m = env.batch.shape
    rewards = []
    # a -> fast: starts 0, finishes 0 + 0.5 + 2/2 = 1.5.
    obs, r, _ = env.step(torch.tensor([1]))
    rewards.append(float(r))
    # c (ready 1) -> fast: slot free at 1.5, finishes 1.5 + 0.5 + 0.5 = 2.5.
    assert env.clock.item() == 1.0 and obs.backlog.tolist() == [[0.0, 0.5]]
    obs, r, _ = env.step(torch.tensor([1]))
    rewards.append(float(r))
    # b (ready 1.5, parent a on fast) -> slow: transfer 1.1, starts 2.6, finishes 2.6 + 0.5 + 4 = 7.1.
    assert env.clock.item() == 1.5
    assert obs.transfer[0].tolist() == pytest.approx([1.1, 0.0])
    assert obs.backlog[0].tolist() == pytest.approx([0.0, 1.0])
    assert obs.est_finish[0].tolist() == pytest.approx([2.6 + 4.5 - 1.5, 2.5 + 2.5 - 1.5])
    _, r, done = env.step(torch.tensor([0]))
    rewards.append(float(r))
    assert bool(done[0])
    got = [(int(env.server[0, i]), float(env.start[0, i]), float(env.finish[0, i])) for i in (0, 1, m)]
    assert got == [(1, 0.0, 1.5), (0, pytest.approx(2.6), pytest.approx(7.1)), (1, 1.5, 2.5)]
    # Workflows in system: [0, 1) one, [1, 1.5) two; the tail from 1.5: (7.1 - 1.5) + (2.5 - 1.5).
    assert rewards == pytest.approx([-1.0, -1.0, -6.6])
    assert sum(rewards) == pytest.approx(-(7.1 + 1.5))
    metrics = env.metrics()
    assert metrics["art"].item() == pytest.approx((7.1 + 1.5) / 2)
    # critical paths on the fastest server: w0 (0.5 + 1) + (0.5 + 2) = 4, w1 0.5 + 0.5 = 1
    assert metrics["lower_bound"].item() == pytest.approx(2.5)
    assert metrics["slowdown"].item() == pytest.approx((7.1 / 4 + 1.5 / 1) / 2)
    assert metrics["utilisation"].item() == pytest.approx((1.5 + 1.0 + 4.5) / (2 * 7.1))
    assert metrics["makespan"].item() == pytest.approx(7.1)


def test_eft_on_the_tiny_workload() -> None:
    env = make_env([tiny()])
    policy, obs, chosen = EarliestFinishTime(), env.observe(), []
    while not bool(env.done.all()):
        action = policy(obs)
        chosen.append(int(action))
        obs, _, _ = env.step(action)
    # a: fast (1.5 < 2.5); c at 1: both finish at 2.5 -> tie -> lowest index (slow);
    # b at 1.5: slow would finish 7.1 after transfer, fast 4.0 with no transfer.
    assert chosen == [1, 0, 1]
    assert env.metrics()["art"].item() == pytest.approx((4.0 + 1.5) / 2)


def test_slots_run_tasks_concurrently() -> None:
    cat = Catalogue([Primitive("x", work=1.0, cv=0.0)])
    cluster = Cluster(cat, [ServerClass("s", {"x": 1.0}, slots=2)], np.array([0]))
    flows = [Workflow(f"w{i}", 0.0, [0], [3.0], [3.0], [0.0], np.zeros((0, 2))) for i in range(3)]
    env = make_env([(Workload(cat, flows), cluster)])
    for _ in range(3):
        env.step(torch.tensor([0]))
    _, _, m = env.batch.shape
    starts = [float(env.start[0, i * m]) for i in range(3)]
    assert starts == [0.0, 0.0, 3.0]


def test_infeasible_action_is_refused() -> None:
    cat = Catalogue([Primitive("x", work=1.0), Primitive("y", work=1.0)])
    classes = [ServerClass("a", {"x": 1.0}), ServerClass("b", {"x": 1.0, "y": 1.0})]
    cluster = Cluster(cat, classes, np.array([0, 1]))
    flow = Workflow("w", 0.0, [1], [1.0], [1.0], [0.0], np.zeros((0, 2)))
    env = make_env([(Workload(cat, [flow]), cluster)])
    assert env.observe().mask.tolist() == [[False, True]]
    with pytest.raises(ValueError, match="server 0 cannot run"):
        env.step(torch.tensor([0]))


def test_ready_ties_go_to_earlier_workflow_then_lower_index() -> None:
    cat = Catalogue([Primitive("x", work=1.0, cv=0.0)])
    cluster = Cluster(cat, [ServerClass("s", {"x": 1.0})], np.array([0]))
    # Both workflows arrive at 5; w_b is listed first so it counts as earlier; its roots are 0 and 1.
    wa = Workflow("a", 5.0, [0], [1.0], [1.0], [0.0], np.zeros((0, 2)))
    wb = Workflow("b", 5.0, [0, 0], [2.0, 4.0], [2.0, 4.0], [0.0, 0.0], np.zeros((0, 2)))
    env = make_env([(Workload(cat, [wb, wa]), cluster)])
    order = []
    while not bool(env.done.all()):
        order.append((int(env.cur_wf), int(env.cur_task % env.batch.shape[2])))
        env.step(torch.tensor([0]))
    assert order == [(0, 0), (0, 1), (1, 0)]


def test_finished_environments_ignore_actions_and_get_zero_reward() -> None:
    short = tiny()
    cat, cluster = short[0].catalogue, short[1]
    long_flows = [Workflow(f"w{i}", float(i), [0], [1.0], [1.0], [0.0], np.zeros((0, 2))) for i in range(6)]
    env = make_env([short, (Workload(cat, long_flows), cluster)])
    steps = 0
    while not bool(env.done.all()):
        _, reward, done = env.step(torch.tensor([1, 1]))
        steps += 1
        if steps > 3:
            assert bool(done[0]) and reward[0].item() == 0.0
    assert steps == 6
    assert math.isfinite(env.metrics()["art"][0].item())


def test_observation_features_stay_finite_with_padded_servers_and_finished_envs() -> None:
    from scale_pl.sim.generators.config import load_cluster_spec, load_generator

    generator, spec = load_generator(num_workflows=4), load_cluster_spec()
    pairs = [(generator.generate(spec.make(n, generator.catalogue), i), spec.make(n, generator.catalogue))
             for i, n in enumerate([4, 16, 9])]  # fmt: skip
    env = make_env(pairs)
    obs, policy = env.observe(), EarliestFinishTime()
    while not bool(env.done.all()):
        for name in ("task", "nodes", "servers"):
            assert torch.isfinite(getattr(obs, name)).all(), name
        assert not (obs.mask & obs.done[:, None]).any()  # finished envs offer no server
        assert not obs.mask[0, 4:].any()  # padded servers are never feasible
        obs, _, _ = env.step(policy(obs))
