"""The placement engine: the one-environment scheduler, driven by requests instead of by ``schedule``.

It knows what the simulator's scheduler knows under ``information: expected`` and nothing else:
the workflows as they arrive, its own placements, and the start and finish times the servers
report. It decides with :class:`~scale_pl.sim.single.scheduler.Scheduler`, the engine ``schedule``
runs, fed the same events in the same order by ``replay``, so the two give the same schedule.

Decision order (docs/model.md): a task is ready when its last parent finishes (roots: at the
arrival) and is decided at once, at ``now`` = its ready time; tasks ready at the same time go in
order of workflow arrival, then task index. All events of one timestamp must arrive in one request
(or before): a decision at time T sees exactly the events at times <= T.

Every ``check_*`` method only reads the state and raises :class:`RequestError`; the matching
``apply`` method then cannot fail, which is what makes a rejected request leave no trace and lets
the journal store a request before it is applied.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from scale_pl.errors import ScaleError
from scale_pl.io.schema import validate
from scale_pl.io.workload_file import workflow_from_dict
from scale_pl.serve.errors import RequestError
from scale_pl.serve.events import Event, check_events
from scale_pl.serve.fastcheck import plain_workflow
from scale_pl.sim.single.flows import FlowState
from scale_pl.sim.single.scheduler import Policy, Scheduler
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.workload import Workflow


@dataclass
class Placement:
    """One decision: task ``task`` of workflow ``workflow`` goes to ``server`` at ``time``."""

    workflow: str
    task: str
    server: str
    server_index: int
    time: float  # the decision time: the task's ready time
    transfer: float  # the transfer delay there; the task may start at time + transfer

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow, "task": self.task, "server": self.server, "server_index": self.server_index,
            "time": self.time, "transfer": self.transfer,
        }  # fmt: skip


class Engine:
    """The one-environment scheduler plus a clock, fed by submissions and event reports.

    Args:
        cluster: the servers.
        catalogue: the task types submitted workflows may use.
        policy: decides one task from an observation (a heuristic or a checkpoint's greedy policy).
        time_scale: seconds scale of the log features (as in training).
        features: False for a policy that reads only the raw observation fields (the heuristics).
    """

    def __init__(
        self, cluster: Cluster, catalogue: Catalogue, policy: Policy, time_scale: float = 2.0, features: bool = True
    ) -> None:
        self.cluster, self.catalogue, self.policy = cluster, catalogue, policy
        if hasattr(policy, "reset"):
            policy.reset(1)
        self.scheduler = Scheduler(cluster, catalogue, time_scale, "expected", features)
        self.names = cluster.server_names
        self.runnable = (cluster.speed > 0).any(axis=0)
        self.clock = 0.0  # the latest time the service has heard of; nothing older is accepted
        self.index: dict[str, FlowState] = {}  # workflow id -> its state, while in the system
        self.task_index: dict[str, dict[str, int]] = {}  # workflow id -> task id -> task index
        self.completed: dict[str, dict[str, Any]] = {}  # workflow id -> its final record
        self.decisions = 0
        self.decision_seconds: list[float] = []  # wall time of each decision, drained by the service

    # -- submissions -------------------------------------------------------------------------
    def check_workflow(self, spec: Any) -> Workflow:
        """The workflow of a request body, validated as a workflow of a workload file."""
        try:
            if not plain_workflow(spec):  # the schema decides, and words the error
                validate({"workflows": [spec]}, "workload", "body")
            flow = workflow_from_dict(spec, self.catalogue, "body")
        except ScaleError as exc:
            raise RequestError(422, "invalid_workflow", str(exc), _workflow_id(spec)) from None
        where = f"workflow {flow.id!r}"
        if flow.id in self.index or flow.id in self.completed:
            raise RequestError(
                409, "duplicate_workflow", f"{where}: a workflow with this id was already submitted", flow.id
            )
        for t, k in enumerate(flow.types.tolist()):
            if not self.runnable[k]:
                name = self.catalogue.names[k]
                raise RequestError(
                    422, "unrunnable_type", f"{where}: task {flow.task_ids[t]!r} has type {name!r}, which no server "
                    "of the cluster can run", flow.task_ids[t],
                )  # fmt: skip
        if flow.arrival < self.clock:
            raise RequestError(
                409, "out_of_order", f"{where}: arrival {flow.arrival!r} is before the service clock {self.clock!r}",
                "arrival",
            )  # fmt: skip
        return flow

    def submit(self, flow: Workflow) -> list[Placement]:
        """A checked workflow arrives: place its roots at its arrival, in task order."""
        self.clock = flow.arrival
        fs = self.scheduler.add(flow)
        self.index[flow.id] = fs
        self.task_index[flow.id] = {tid: t for t, tid in enumerate(flow.task_ids)}
        return [self._decide(fs, t) for t in fs.roots]

    # -- events ------------------------------------------------------------------------------
    def check_events(self, body: Any) -> list[Event]:
        """The events of a request body, checked against the state (see :mod:`~scale_pl.serve.events`)."""
        return check_events(self, body)

    def apply_events(self, events: list[Event]) -> list[Placement]:
        """Apply checked events in time order; after each timestamp, place the tasks it made ready."""
        placements: list[Placement] = []
        i = 0
        while i < len(events):
            now = events[i].time
            self.clock = now
            ready: list[tuple[int, int, FlowState]] = []
            while i < len(events) and events[i].time == now:
                ready += self._apply(events[i])
                i += 1
            for _, t, fs in sorted(ready, key=lambda r: r[:2]):  # workflow arrival order, then task index
                placements.append(self._decide(fs, t))
        return placements

    def _apply(self, e: Event) -> list[tuple[int, int, FlowState]]:
        """Record one event; returns the tasks it made ready."""
        fs = self.index[e.workflow]
        if e.kind == "started":
            self.scheduler.report_start(fs, e.t, e.time)
            return []
        ready = [(fs.index, c, fs) for c in self.scheduler.report_finish(fs, e.t, e.time)]
        if fs.unfinished == 0:  # it left the system: keep its record, forget its state
            self.completed[e.workflow] = self.workflow_state(e.workflow)
            self.scheduler.forget(fs)
            del self.index[e.workflow], self.task_index[e.workflow]
        return ready

    def _decide(self, fs: FlowState, t: int) -> Placement:
        now = float(fs.ready[t])
        began = time.perf_counter()
        n, transfer = self.scheduler.decide(fs, t, now, self.policy)
        self.decision_seconds.append(time.perf_counter() - began)
        self.scheduler.place(fs, t, n, now, transfer)
        self.decisions += 1
        return Placement(fs.flow.id, fs.flow.task_ids[t], self.names[n], n, now, transfer)

    # -- reading -----------------------------------------------------------------------------
    def workflow_state(self, wid: str) -> dict[str, Any]:
        """A workflow as the service knows it now: each task's state, server and reported times."""
        if wid in self.completed:
            return self.completed[wid]
        if wid not in self.index:
            raise RequestError(404, "unknown_workflow", f"no workflow {wid!r} was submitted", wid)
        fs = self.index[wid]
        f = fs.flow
        tasks = []
        for t, tid in enumerate(f.task_ids):
            n, start, finish = int(fs.server[t]), float(fs.start[t]), float(fs.finish[t])
            state = (
                "done" if finish < math.inf else "running" if start < math.inf else "queued" if n >= 0 else "waiting"
            )
            tasks.append(
                {
                    "id": tid, "type": self.catalogue.names[int(f.types[t])], "state": state,
                    "server": self.names[n] if n >= 0 else None, "ready": _finite(float(fs.ready[t])),
                    "start": _finite(start), "finish": _finite(finish),
                }
            )  # fmt: skip
        completion = _finite(fs.completion)
        return {
            "id": wid, "arrival": f.arrival, "state": "completed" if completion is not None else "in_system",
            "completion": completion, "response_time": None if completion is None else completion - f.arrival,
            "tasks": tasks,
        }  # fmt: skip


def _finite(x: float) -> float | None:
    return x if x < math.inf else None


def _workflow_id(spec: Any) -> str | None:
    return str(spec["id"]) if isinstance(spec, dict) and isinstance(spec.get("id"), (str, int)) else None
