"""An independent check of a schedule, from the files alone: workload file + cluster file + schedule JSON.

Deliberately uses nothing from ``scale_pl``: it re-reads the JSON/YAML itself and re-derives
every rule of docs/model.md with plain Python and numpy, so a bug in the loaders, the writers or
the simulator cannot hide itself.

Checks: every task scheduled once with its type; on a server that can run it; ready = last
parent's finish (arrival for a root); start >= ready + transfer (0 if every parent ran on the
same server, else max over remote parents of latency + output_mb / bandwidth); finish = start +
latency floor + work / speed; never more tasks at once on a server than its slots; workflow
completion and response times; and the metrics (ART, p95, p99, makespan, utilisation, the
critical-path lower bound and mean slowdown) recomputed with numpy.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REL = 1e-6


def _close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def _servers(cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{server id: {class, speeds, slots}}`` in file order, ids ``<class>-<i>``."""
    out = {}
    for name, spec in cluster["classes"].items():
        for i in range(int(spec["count"])):
            out[f"{name}-{i}"] = {"class": name, "speeds": spec["speeds"], "slots": int(spec.get("slots", 1))}
    return out


def validate_schedule(workload_path: str | Path, cluster_path: str | Path, schedule: dict | str | Path) -> None:
    """Raise AssertionError (naming the task) if the schedule breaks any rule."""
    wl = json.loads(Path(workload_path).read_text())
    cl = yaml.safe_load(Path(cluster_path).read_text())
    sched = schedule if isinstance(schedule, dict) else json.loads(Path(schedule).read_text())
    catalogue = wl["catalogue"]
    servers = _servers(cl)
    net = {"latency": 0.005, "bandwidth_mbps": 100.0, **cl.get("network", {})}
    rows = {(t["workflow"], t["task"]): t for t in sched["tasks"]}
    assert len(rows) == len(sched["tasks"]), "a task is scheduled twice"
    n_tasks = sum(len(f["tasks"]) for f in wl["workflows"])
    assert len(rows) == n_tasks, f"{len(rows)} tasks scheduled, the workload has {n_tasks}"
    assert [s["id"] for s in sched["servers"]] == list(servers), "server list differs from the cluster file"
    for s in sched["servers"]:
        same = s["class"] == servers[s["id"]]["class"] and s["slots"] == servers[s["id"]]["slots"]
        assert same, f"server {s['id']}: class or slots differ from the cluster file"

    response, critical = [], []
    fastest = {k: max(float(s["speeds"].get(k, 0.0)) for s in servers.values()) for k in catalogue}
    for f in wl["workflows"]:
        tasks = {str(t["id"]): t for t in f["tasks"]}
        parents = defaultdict(list)
        for p, c in f.get("edges", []):
            parents[str(c)].append(str(p))
        default_mb = {k: float(v.get("output_mb", 0.0)) for k, v in catalogue.items()}
        out_mb = {tid: float(t.get("output_mb", default_mb[t["type"]])) for tid, t in tasks.items()}
        finish_of = {}
        for tid, task in tasks.items():
            row = rows.get((str(f["id"]), tid))
            assert row is not None, f"task {tid!r} of workflow {f['id']!r} is not scheduled"
            where = f"workflow {f['id']!r} task {tid!r}"
            assert row["type"] == task["type"], f"{where}: type {row['type']} != {task['type']}"
            server = servers[row["server"]]
            speed = float(server["speeds"].get(task["type"], 0.0))
            assert speed > 0, f"{where}: server {row['server']} cannot run {task['type']}"
            ps = parents[tid]
            ready = max((rows[(str(f["id"]), p)]["finish"] for p in ps), default=f["arrival"])
            assert _close(row["ready"], ready), f"{where}: ready {row['ready']} != {ready}"
            remote = [p for p in ps if rows[(str(f["id"]), p)]["server"] != row["server"]]
            transfer = max((net["latency"] + out_mb[p] / net["bandwidth_mbps"] for p in remote), default=0.0)
            assert row["start"] >= ready + transfer - REL * max(1.0, abs(ready)), (
                f"{where}: start {row['start']} < ready {ready} + transfer {transfer}"
            )
            latency = float(catalogue[task["type"]].get("latency", 0.0))
            expected_finish = row["start"] + latency + float(task["work"]) / speed
            assert _close(row["finish"], expected_finish), f"{where}: finish {row['finish']} != {expected_finish}"
            finish_of[tid] = row["finish"]
        completion = max(finish_of.values())
        response.append(completion - f["arrival"])
        critical.append(_critical_path(tasks, parents, catalogue, fastest))
        wrow = next(w for w in sched["workflows"] if w["id"] == str(f["id"]))
        assert _close(wrow["arrival"], f["arrival"]) and _close(wrow["completion"], completion), f"workflow {f['id']}"
        assert _close(wrow["response_time"], completion - f["arrival"]), f"workflow {f['id']}: response time"
    _check_slots(sched["tasks"], servers)
    _check_metrics(sched, wl, servers, np.array(response), np.array(critical))


def _critical_path(tasks, parents, catalogue, fastest) -> float:
    """Longest path of latency + work / fastest speed, no queueing and no transfers."""
    memo: dict[str, float] = {}

    def longest_to(tid: str) -> float:  # longest path ending at tid (inclusive)
        if tid not in memo:
            t = tasks[tid]
            own = float(catalogue[t["type"]].get("latency", 0.0)) + float(t["work"]) / fastest[t["type"]]
            memo[tid] = own + max((longest_to(p) for p in parents[tid]), default=0.0)
        return memo[tid]

    return max(longest_to(t) for t in tasks)


def _check_slots(tasks: list[dict], servers: dict[str, dict]) -> None:
    """Sweep over start/finish events per server: running tasks never exceed the slots."""
    events = defaultdict(list)
    for t in tasks:
        events[t["server"]] += [(t["finish"], -1), (t["start"], +1)]  # a finish at t frees before a start at t
    for server, evs in events.items():
        running = 0
        for _, delta in sorted(evs):
            running += delta
            assert running <= servers[server]["slots"], f"server {server}: {running} tasks at once"


def _check_metrics(sched: dict, wl: dict, servers: dict, rt: np.ndarray, cp: np.ndarray) -> None:
    m = sched["metrics"]
    first = min(f["arrival"] for f in wl["workflows"])
    last = max(t["finish"] for t in sched["tasks"])
    busy = sum(t["finish"] - t["start"] for t in sched["tasks"])
    slots = sum(s["slots"] for s in servers.values())
    expected = {
        "avg_response_time": float(rt.mean()),
        "p95_response_time": float(np.percentile(rt, 95)),
        "p99_response_time": float(np.percentile(rt, 99)),
        "makespan": last - first,
        "utilisation": busy / (slots * (last - first)),
        "lower_bound": float(cp.mean()),
        "mean_slowdown": float((rt / cp).mean()),
    }
    for name, value in expected.items():
        assert _close(m[name], value), f"metric {name}: {m[name]} != recomputed {value}"
