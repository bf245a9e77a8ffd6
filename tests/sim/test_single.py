"""The one-environment engine's parts, by hand: the incremental server belief and the ART bound of the cap.

(Whole runs against the reference simulator, observation by observation, are in test_differential.py.)
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from scale_pl.baselines import make_heuristic
from scale_pl.sim.reference.view import Placed, server_view
from scale_pl.sim.single.belief import QueuedTask, server_belief
from scale_pl.sim.single.run import run_workload
from scale_pl.sim.system.catalogue import Catalogue, Primitive
from scale_pl.sim.system.cluster import Cluster, Network, ServerClass
from scale_pl.sim.system.workload import Workflow, Workload
from tests.sim.builders import random_setup


def test_belief_by_hand():
    """2 slots; one task running since 0 for 5 s; queued: earliest 1 for 2 s, then earliest 7 for 1 s.

    At now=2 the slots are believed free at [5, 2]; the first queued task takes the idle slot
    (-> now + 2 = 4), the second waits for its earliest start on it (-> 8): free = min(5, 8) = 5.
    That holds while now + 2 <= 5, i.e. until now = 3; then the idle slot's task ends after 5.
    """
    tasks = [
        QueuedTask(0, 0, 5.0, 0.0, 0.0, start=0.0),
        QueuedTask(0, 1, 2.0, 1.0, 0.5),
        QueuedTask(1, 0, 1.0, 7.0, 1.0),
    ]
    kept, (offset, slope, until, queued, running) = server_belief(tasks, 2, 2.0)
    assert (offset, slope, until, queued, running) == (5.0, 0.0, 3.0, 2.0, 1.0)
    assert kept == tasks
    _, row = server_belief(tasks, 2, 3.5)  # past the threshold: free = 3.5 + 2, growing with the clock
    assert row == (2.0, 1.0, 5.0, 2.0, 1.0)
    tasks[0].finish = 4.0  # reported finished: gone from the queue from then on
    kept, row = server_belief(tasks, 2, 4.0)
    assert kept == tasks[1:] and row[3:] == (2.0, 0.0)


def random_queue(rng: random.Random, now: float) -> tuple[list[QueuedTask], int]:
    slots = rng.randint(1, 4)
    tasks = []
    for i in range(rng.randint(0, 7)):
        placed = now if rng.random() < 0.1 else rng.uniform(0, now)
        start = rng.choice([math.inf, placed, rng.uniform(placed, now)])  # unreported, at placement, since then
        finish = rng.choice([math.inf, math.inf, rng.uniform(start, now)]) if start <= now else math.inf
        earliest = placed + rng.choice([0.0, rng.uniform(0, 6)])
        tasks.append(QueuedTask(i, 0, rng.choice([0.0, rng.uniform(0.1, 8)]), earliest, placed, start, finish))
    return tasks, slots


def test_belief_formula_holds_until_its_threshold():
    """free(t) = offset + slope * t and the counts equal the oracle's belief at every t in [now, until]."""
    rng = random.Random(0)
    lasting = 0  # cases whose formula holds beyond the instant it was computed at
    for _ in range(3000):
        now = rng.choice([0.0, rng.uniform(0, 10)])
        tasks, slots = random_queue(rng, now)
        _, (offset, slope, until, queued, running) = server_belief(list(tasks), slots, now)
        ahead = min(until, now + 10.0)
        lasting += ahead > now
        for t in {now, (now + ahead) / 2, ahead, rng.uniform(now, ahead)}:
            placed = [Placed(p.flow, p.task, p.start, p.finish, p.duration, p.earliest, p.placed) for p in tasks]
            view = server_view(placed, slots, t, math.inf, "expected")
            assert offset + slope * t == pytest.approx(view.free, rel=1e-12, abs=1e-9), (tasks, slots, now, t)
            assert (queued, running) == (view.queued, view.running), (tasks, slots, now, t)
    assert lasting > 1000  # (at now = 0 every task was placed at this instant: valid at 0 only)


def two_workflows() -> tuple[Workload, Cluster]:
    """One server, one slot, speed 1, no latency or transfer. A (at 0): a1 (2 s) -> a2 (3 s); B (at 1): b1 (1 s).

    EFT: a1 runs [0, 2]; b1, placed at 1, runs [2, 3]; a2, placed at 2, runs [3, 6]. ART = (6 + 2) / 2 = 4.
    The bound at each decision: at 0 (a1) 0; at 1 (b1) (max(1, 2) - 0 + 0) / 2 = 1; at 2 (a2) (2 + (3 - 1)) / 2 = 2.
    """
    catalogue = Catalogue([Primitive("x", work=1.0)])
    cluster = Cluster(catalogue, [ServerClass("s", {"x": 1.0})], np.zeros(1, dtype=np.int64), Network(0.0, 100.0))
    flows = [
        Workflow("A", 0.0, [0, 0], [2.0, 3.0], [2.0, 3.0], [0.0, 0.0], [[0, 1]]),
        Workflow("B", 1.0, [0], [1.0], [1.0], [0.0], np.zeros((0, 2))),
    ]
    return Workload(catalogue, flows), cluster


CAPS = [(0.5, True, 1, 1.0), (1.5, True, 2, 2.0), (2.0, False, 3, 2.0), (None, False, 3, 0.0)]


@pytest.mark.parametrize(("cap", "censored", "decisions", "bound"), CAPS)
def test_the_cap_stops_at_the_first_decision_whose_bound_exceeds_it(cap, censored, decisions, bound):
    workload, cluster = two_workflows()
    run = run_workload(workload, cluster, make_heuristic("eft"), features=False, cap=cap)
    assert (run.censored, run.decisions, run.bound) == (censored, decisions, bound)
    metrics = run.schedule["metrics"]
    if censored:  # only the tasks placed, no ART: the bound reached and the cap instead
        assert len(run.schedule["tasks"]) == decisions
        assert metrics == {"censored": True, "cap": cap, "art_lower_bound": bound, "placed_tasks": decisions}
        assert [w["completion"] for w in run.schedule["workflows"]] == ([None, None] if decisions == 1 else [None, 3.0])
    else:
        assert metrics["avg_response_time"] == 4.0
        assert [(t["task"], t["start"], t["finish"]) for t in run.schedule["tasks"]] == [
            ("t0", 0.0, 2.0), ("t1", 3.0, 6.0), ("t0", 2.0, 3.0)
        ]  # fmt: skip
        assert ("censored" in metrics) == (cap is not None)


@pytest.mark.parametrize("seed", range(12))
def test_the_bound_never_exceeds_the_final_art(seed):
    """A cap equal to a run's own ART never censors it: the bound is a lower bound at every decision."""
    workload, cluster = random_setup(seed)
    free = run_workload(workload, cluster, make_heuristic("random", seed=seed), features=False)
    art = free.schedule["metrics"]["avg_response_time"]
    capped = run_workload(workload, cluster, make_heuristic("random", seed=seed), features=False, cap=art)
    assert not capped.censored and capped.bound <= art
    assert capped.schedule["tasks"] == free.schedule["tasks"]
