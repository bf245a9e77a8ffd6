"""Invariants of the batched environment on arbitrary small workloads and arbitrary feasible decisions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scale_pl.sim.system.catalogue import Catalogue, Primitive
from scale_pl.sim.system.cluster import Cluster, Network, ServerClass
from scale_pl.sim.system.workload import Workflow, Workload
from tests.sim.builders import make_env

times = st.floats(0.0, 20.0, allow_nan=False)
works = st.floats(0.01, 10.0, allow_nan=False)


@st.composite
def workflows(draw, index: int) -> Workflow:
    n = draw(st.integers(1, 6))
    edges = [(i, j) for j in range(n) for i in range(j) if draw(st.booleans())]
    work = draw(st.lists(works, min_size=n, max_size=n))
    return Workflow(
        f"w{index}",
        draw(times),
        draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)),
        draw(st.lists(works, min_size=n, max_size=n)),
        work,
        draw(st.lists(st.floats(0.0, 50.0), min_size=n, max_size=n)),
        np.array(edges, dtype=np.int64).reshape(-1, 2),
    )


@st.composite
def scenarios(draw) -> tuple[Workload, Cluster, list[int]]:
    cat = Catalogue([Primitive("a", 1.0, latency=draw(st.floats(0, 1))), Primitive("b", 1.0, latency=0.2)])
    n_classes = draw(st.integers(1, 3))
    classes = [
        ServerClass(
            f"c{c}",
            {"a": draw(st.floats(0.2, 4.0)), "b": draw(st.sampled_from([0.0, 0.5, 2.0])) if c else 1.0},
            slots=draw(st.integers(1, 3)),
        )
        for c in range(n_classes)
    ]
    server_class = np.array([0, *draw(st.lists(st.integers(0, n_classes - 1), max_size=5))])
    network = Network(latency=draw(st.floats(0, 0.5)), bandwidth_mbps=draw(st.floats(1, 100)))
    flows = [draw(workflows(i)) for i in range(draw(st.integers(1, 4)))]
    choices = draw(st.lists(st.integers(0, 1000), min_size=30, max_size=30))
    return Workload(cat, flows), Cluster(cat, classes, server_class, network), choices


def run(workload: Workload, cluster: Cluster, choices: list[int]):
    env = make_env([(workload, cluster)], reward_scale=3.0)
    obs, ret, step = env.observe(), 0.0, 0
    while not bool(env.done.all()):
        feasible = obs.mask[0].nonzero().flatten()
        action = feasible[choices[step % len(choices)] % len(feasible)]
        obs, reward, _ = env.step(action.view(1))
        ret += float(reward)
        step += 1
    return env, ret, step


def schedule(env, workload):
    _, _, m = env.batch.shape
    rows = {}
    for wi, f in enumerate(workload.workflows):
        for t in range(f.num_tasks):
            i = wi * m + t
            rows[(wi, t)] = (int(env.server[0, i]), float(env.start[0, i]), float(env.finish[0, i]))
    return rows


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_every_task_runs_exactly_once(scenario) -> None:
    workload, cluster, choices = scenario
    env, _, steps = run(workload, cluster, choices)
    assert steps == workload.num_tasks
    rows = schedule(env, workload)
    assert all(0 <= s < cluster.num_servers and np.isfinite(f) for s, _, f in rows.values())
    assert int(env.num_decisions[0]) == workload.num_tasks


@PROPERTY
@given(scenarios())
def test_no_task_starts_before_parents_finish_plus_transfer(scenario) -> None:
    workload, cluster, choices = scenario
    env, _, _ = run(workload, cluster, choices)
    rows = schedule(env, workload)
    net = cluster.network
    for wi, f in enumerate(workload.workflows):
        assert all(rows[(wi, t)][1] >= f.arrival for t in range(f.num_tasks))
        for t, parents in enumerate(f.parents()):
            server, start, _ = rows[(wi, t)]
            for p in parents:
                p_server, _, p_finish = rows[(wi, p)]
                transfer = 0.0 if p_server == server else net.latency + f.output_mb[p] / net.bandwidth_mbps
                assert start >= p_finish + transfer - 1e-9


@PROPERTY
@given(scenarios())
def test_no_server_runs_more_tasks_than_slots(scenario) -> None:
    workload, cluster, choices = scenario
    env, _, _ = run(workload, cluster, choices)
    rows = schedule(env, workload).values()
    for n in range(cluster.num_servers):
        mine = [(s, f) for srv, s, f in rows if srv == n and f > s]
        events = sorted([(s, 1) for s, _ in mine] + [(f, -1) for _, f in mine])
        running = 0
        for _, delta in events:  # at equal times the finish (-1) is processed first
            running += delta
            assert running <= cluster.slots[n]


@PROPERTY
@given(scenarios())
def test_finish_is_start_plus_latency_plus_work_over_speed(scenario) -> None:
    workload, cluster, choices = scenario
    env, _, _ = run(workload, cluster, choices)
    for (wi, t), (server, start, finish) in schedule(env, workload).items():
        f = workload.workflows[wi]
        k = int(f.types[t])
        expected = start + workload.catalogue[k].latency + f.work[t] / cluster.speed[server, k]
        assert finish == pytest.approx(expected, rel=1e-9)


@PROPERTY
@given(scenarios())
def test_return_is_minus_sum_of_response_times_and_art_above_lower_bound(scenario) -> None:
    workload, cluster, choices = scenario
    env, ret, _ = run(workload, cluster, choices)
    response = env.response_times()[0]
    total = float(torch.nansum(response))
    assert ret * env.reward_scale == pytest.approx(-total, rel=1e-9, abs=1e-9)
    metrics = env.metrics()
    assert metrics["art"].item() >= metrics["lower_bound"].item() - 1e-9
    assert (env.metrics()["slowdown"] >= 1 - 1e-9).all()
