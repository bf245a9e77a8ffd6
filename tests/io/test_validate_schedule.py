"""The schedule validator catches each kind of broken schedule (so passing it means something)."""

from __future__ import annotations

import copy

import pytest
import yaml

from scale_pl.baselines import make_heuristic
from scale_pl.io.cluster_file import write_cluster
from scale_pl.io.workload_file import write_workload
from scale_pl.sim.batched.rollout import simulate
from tests.io.validate_schedule import validate_schedule


@pytest.fixture(scope="module")
def case(generator, small_cluster, tmp_path_factory):
    wl = generator.generate(small_cluster, seed=11)
    folder = tmp_path_factory.mktemp("validator")
    write_workload(wl, folder / "w.json")
    write_cluster(small_cluster, folder / "c.yaml")
    return folder / "w.json", folder / "c.yaml", simulate(wl, small_cluster, make_heuristic("eft")).to_dict()


def _first_child(sched):
    return next(t for t in sched["tasks"] if t["ready"] > next(w for w in sched["workflows"]
                                                                if w["id"] == t["workflow"])["arrival"])  # fmt: skip


def _shift(sched, task, delta):
    task["start"] += delta
    task["finish"] += delta


BREAKS = {
    "start before ready": (lambda s: _shift(s, _first_child(s), -0.5), "start .* < ready"),
    "finish too early": (lambda s: s["tasks"][0].update(finish=s["tasks"][0]["finish"] - 1e-3), "finish"),
    "wrong server class": (lambda s: s["servers"][0].update({"class": "cpu_small"}), "class or slots differ"),
    "task missing": (lambda s: s["tasks"].pop(), "tasks scheduled"),
    "art off": (lambda s: s["metrics"].update(avg_response_time=s["metrics"]["avg_response_time"] * 1.001),
                "metric avg_response_time"),
    "p95 off": (lambda s: s["metrics"].update(p95_response_time=s["metrics"]["p95_response_time"] + 0.01),
                "metric p95_response_time"),
    "response off": (lambda s: s["workflows"][0].update(response_time=s["workflows"][0]["response_time"] + 1),
                     "response time"),
}  # fmt: skip


def test_accepts_the_real_schedule(case):
    validate_schedule(*case)


@pytest.mark.parametrize("name", BREAKS)
def test_rejects_broken_schedules(case, name):
    w, c, sched = case
    broken = copy.deepcopy(sched)
    edit, message = BREAKS[name]
    edit(broken)
    with pytest.raises(AssertionError, match=message):
        validate_schedule(w, c, broken)


def test_rejects_too_many_tasks_at_once(case, tmp_path):
    """The same schedule checked against a cluster whose busiest class has one slot fewer."""
    w, c, sched = case
    (server, busiest), *_ = sorted(_concurrency(sched).items(), key=lambda kv: -kv[1])
    assert busiest >= 2, "the test needs a server that ran two tasks at once"
    cls = next(s["class"] for s in sched["servers"] if s["id"] == server)
    cluster = yaml.safe_load(c.read_text())
    cluster["classes"][cls]["slots"] = busiest - 1
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    broken = copy.deepcopy(sched)
    for s in broken["servers"]:
        if s["class"] == cls:
            s["slots"] = busiest - 1
    with pytest.raises(AssertionError, match=f"server {server}: {busiest} tasks at once"):
        validate_schedule(w, tmp_path / "c.yaml", broken)


def _concurrency(sched) -> dict[str, int]:
    events = {}
    for t in sched["tasks"]:
        events.setdefault(t["server"], []).extend([(t["finish"], -1), (t["start"], 1)])
    out = {}
    for server, evs in events.items():
        running = best = 0
        for _, d in sorted(evs):
            running += d
            best = max(best, running)
        out[server] = best
    return out
