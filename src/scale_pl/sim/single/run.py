"""One workload on one cluster under a policy, on the one-environment engine: what ``schedule`` runs.

The scheduler (:class:`~scale_pl.sim.single.scheduler.Scheduler`) decides; the servers run each
task as they really run (:class:`~scale_pl.sim.reference.execution.ServerSlots`, shared with the
reference simulator and ``replay``) and report its start and finish at the times they happen.
Events and decisions go in the order the placement service sees them from ``replay``: at each
timestamp, first every event of that timestamp, then the tasks they made ready (in order of
workflow arrival, then task index), and arrivals after the events of their timestamp. So
``replay`` against the service gives this schedule exactly, float for float.

An optional cap censors a run that is certain to end far above a reference ART (issue 16: the
evaluation cap): see :class:`ArtBound`.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from scale_pl.sim.reference.execution import ServerSlots
from scale_pl.sim.reference.simulator import ReferenceResult, ReferenceSimulator
from scale_pl.sim.single.scheduler import Policy, Scheduler
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.workload import Workload

STARTED, FINISHED = 0, 1  # at one timestamp a start goes before a finish (a zero-length task)


@dataclass
class Run:
    """What one run gave, indexed ``[workflow][task]`` in arrival order (``-1`` / ``nan`` where a
    censored run never placed the task)."""

    server: list[list[int]]
    ready: list[list[float]]
    start: list[list[float]]
    finish: list[list[float]]
    decisions: int
    censored: bool = False
    bound: float = 0.0  # the certain lower bound on the ART when the run stopped
    cap: float | None = None
    schedule: dict[str, Any] = field(default_factory=dict)


class ArtBound:
    """The certain lower bound on a run's final ART at decision time ``now``.

    ``(sum over workflows with every task placed of (completion - arrival) + sum over workflows
    arrived by now with a task not yet placed of (max(now, latest finish among its placed tasks)
    - arrival)) / (number of workflows)``: placed tasks' finishes are final, and an unplaced task
    finishes after now.
    """

    def __init__(self, workload: Workload) -> None:
        self.arrival = np.array([f.arrival for f in workload.workflows])
        self.latest = np.full(len(self.arrival), -math.inf)
        self.left = np.array([f.num_tasks for f in workload.workflows])
        self.open = np.zeros(len(self.arrival), dtype=bool)
        self.complete = 0.0

    def arrive(self, wi: int) -> None:
        self.open[wi] = True

    def placed(self, wi: int, finish: float) -> None:
        self.latest[wi] = max(self.latest[wi], finish)
        self.left[wi] -= 1
        if self.left[wi] == 0:
            self.open[wi] = False
            self.complete += self.latest[wi] - self.arrival[wi]

    def __call__(self, now: float) -> float:
        pending = np.maximum(self.latest[self.open], now) - self.arrival[self.open]
        return (self.complete + float(pending.sum())) / len(self.arrival)


def run_workload(
    workload: Workload,
    cluster: Cluster,
    policy: Policy,
    information: str = "expected",
    features: bool = True,
    time_scale: float = 2.0,
    cap: float | None = None,
) -> Run:
    """Schedule ``workload`` on ``cluster`` with ``policy``; returns the run and its schedule JSON.

    One torch thread: every decision is a batch of one, where threads only add synchronisation.

    Args:
        features: False for a policy that reads only the raw observation fields (heuristics).
        cap: stop (censor) at the first decision where the certain lower bound on the ART
            exceeds it; None: never.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(workload, cluster, policy, information, features, time_scale, cap)
    finally:
        torch.set_num_threads(threads)


def _run(
    workload: Workload, cluster: Cluster, policy: Policy, information: str, features: bool, time_scale: float,
    cap: float | None,
) -> Run:  # fmt: skip
    cluster.check_runnable(workload.used_types())
    if hasattr(policy, "reset"):
        policy.reset(1)
    flows = workload.workflows
    sched = Scheduler(cluster, workload.catalogue, time_scale, information, features)
    latency = [p.latency for p in workload.catalogue.primitives]
    slots = ServerSlots(cluster.slots)
    actual = np.zeros(cluster.num_servers) if information == "exact_queue" else None
    shape = [f.num_tasks for f in flows]
    run = Run([[-1] * m for m in shape], *([[math.nan] * m for m in shape] for _ in range(3)), 0, cap=cap)
    bound = ArtBound(workload) if cap is not None else None
    states = []
    events: list[tuple[float, int, int, int, int]] = []  # (time, kind, seq, workflow, task)

    def decide(wi: int, t: int, now: float) -> bool:
        """Place one ready task; False if the run is censored instead."""
        if bound is not None:
            run.bound = bound(now)
            if run.bound > cap:
                run.censored = True
                return False
        fs, f = states[wi], flows[wi]
        n, transfer = sched.decide(fs, t, now, policy, actual)
        sched.place(fs, t, n, now, transfer)
        k = int(f.types[t])
        start, finish = slots.run(n, now + transfer, latency[k], f.work[t], cluster.speed[n, k])
        if actual is not None:
            actual[n] = slots.free(n)
        if bound is not None:
            bound.placed(wi, finish)
        run.server[wi][t], run.ready[wi][t], run.start[wi][t], run.finish[wi][t] = n, now, start, finish
        heapq.heappush(events, (start, STARTED, run.decisions, wi, t))
        heapq.heappush(events, (finish, FINISHED, run.decisions, wi, t))
        run.decisions += 1
        return True

    arrivals = 0
    while arrivals < len(flows) or events:
        if events and (arrivals == len(flows) or events[0][0] <= flows[arrivals].arrival):
            now = events[0][0]
            ready = []
            while events and events[0][0] == now:
                _, kind, _, wi, t = heapq.heappop(events)
                if kind == STARTED:
                    sched.report_start(states[wi], t, now)
                else:
                    ready += [(wi, c) for c in sched.report_finish(states[wi], t, now)]
            todo = sorted(ready)
        else:
            states.append(sched.add(flows[arrivals]))
            if bound is not None:
                bound.arrive(arrivals)
            now, todo = flows[arrivals].arrival, [(arrivals, t) for t in states[-1].roots]
            arrivals += 1
        if not all(decide(wi, t, now) for wi, t in todo):
            break
    run.schedule = schedule_json(workload, cluster, run)
    return run


def schedule_json(workload: Workload, cluster: Cluster, run: Run) -> dict[str, Any]:
    """The schedule JSON of docs/formats.md. A censored run lists only the tasks it placed, gives
    ``null`` completions for the workflows it did not finish placing, and no ART: its metrics say
    ``censored`` and the lower bound reached (``art_lower_bound``), never a number below the cap."""
    cat, names = workload.catalogue, cluster.server_names
    sched: dict[str, Any] = {"tasks": [], "workflows": [], "servers": [], "metrics": {}}
    completion = []
    for wi, f in enumerate(workload.workflows):
        for t in range(f.num_tasks):
            if run.server[wi][t] >= 0:
                sched["tasks"].append(
                    {
                        "workflow": f.id, "task": f.task_ids[t], "type": cat.names[int(f.types[t])],
                        "server": names[run.server[wi][t]], "ready": run.ready[wi][t], "start": run.start[wi][t],
                        "finish": run.finish[wi][t],
                    }
                )  # fmt: skip
        done = min(run.server[wi]) >= 0
        completion.append(max(run.finish[wi]) if done else None)
        response = completion[-1] - f.arrival if done else None
        sched["workflows"].append({"id": f.id, "arrival": f.arrival, "completion": completion[-1],
                                   "response_time": response})  # fmt: skip
    sched["servers"] = [
        {"id": name, "class": cluster.classes[int(c)].name, "slots": int(s)}
        for name, c, s in zip(names, cluster.server_class, cluster.slots, strict=True)
    ]
    censoring = {} if run.cap is None else {"censored": run.censored, "cap": run.cap}
    if run.censored:
        sched["metrics"] = {**censoring, "art_lower_bound": run.bound, "placed_tasks": run.decisions}
        return sched
    response = [c - f.arrival for c, f in zip(completion, workload.workflows, strict=True)]
    result = ReferenceResult(run.server, run.ready, run.start, run.finish, completion, response, [], [])
    m = {k: float(v) for k, v in ReferenceSimulator(workload, cluster).metrics(result).items()}
    sched["metrics"] = {
        "avg_response_time": m["art"], "p95_response_time": m["p95"], "p99_response_time": m["p99"],
        "mean_slowdown": m["slowdown"], "utilisation": m["utilisation"], "lower_bound": m["lower_bound"],
        "makespan": m["makespan"], **censoring,
    }  # fmt: skip
    return sched
