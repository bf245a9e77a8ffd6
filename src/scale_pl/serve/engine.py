"""The placement engine: the simulator's scheduler, driven by requests instead of an event heap.

It knows what the simulator's scheduler knows under ``information: expected`` and nothing else:
the workflows as they arrive, its own placements, and the start and finish times the servers
report. Unreported times are ``inf`` in :class:`~scale_pl.sim.reference.knowledge.SchedulerKnowledge`, so
the simulator's belief and observation code reads exactly what it would read in the simulator.

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

from scale_pl.baselines.heuristics import EarliestFinishTime, LeastLoaded, RandomPolicy, RankAwareEFT, RoundRobin
from scale_pl.errors import ScaleError
from scale_pl.io.schema import validate
from scale_pl.io.workload_file import workflow_from_dict
from scale_pl.serve.errors import RequestError
from scale_pl.serve.events import Event, check_events
from scale_pl.serve.fastcheck import plain_workflow
from scale_pl.sim.reference.knowledge import Policy, SchedulerKnowledge
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.workload import Workflow

# Heuristics that read only the raw observation fields (mask, est_finish, backlog, speed, slack):
# their observations skip the learned features, most of the cost of a decision.
RAW_ONLY = (EarliestFinishTime, RankAwareEFT, LeastLoaded, RoundRobin, RandomPolicy)
COMPACT_AFTER = 32  # completed workflows kept in the knowledge before it is compacted


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
    """The scheduler's knowledge plus a clock, fed by submissions and event reports.

    Args:
        cluster: the servers.
        catalogue: the task types submitted workflows may use.
        policy: decides one task from an observation (a heuristic or a checkpoint's greedy policy).
        time_scale: seconds scale of the log features (as in training).
    """

    def __init__(self, cluster: Cluster, catalogue: Catalogue, policy: Policy, time_scale: float = 2.0) -> None:
        self.cluster, self.catalogue, self.policy = cluster, catalogue, policy
        if hasattr(policy, "reset"):
            policy.reset(1)
        self.know = SchedulerKnowledge(cluster, catalogue, time_scale, "expected")
        self.names = cluster.server_names
        self.clock = 0.0  # the latest time the service has heard of; nothing older is accepted
        self.index: dict[str, int] = {}  # workflow id -> index in the knowledge, while in the system
        self.task_index: list[dict[str, int]] = []
        self.parents_left: list[list[int]] = []
        self.unfinished: list[int] = []
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
        runnable = (self.cluster.speed > 0).any(axis=0)
        for t, k in enumerate(flow.types.tolist()):
            if not runnable[k]:
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
        wi = self.know.add(flow)
        self.index[flow.id] = wi
        self.task_index.append({tid: t for t, tid in enumerate(flow.task_ids)})
        self.parents_left.append([len(p) for p in self.know.parents[wi]])
        self.unfinished.append(flow.num_tasks)
        roots = [t for t in range(flow.num_tasks) if self.parents_left[wi][t] == 0]
        for t in roots:
            self.know.ready[wi][t] = flow.arrival
        return [self._decide(wi, t) for t in roots]

    # -- events ------------------------------------------------------------------------------
    def check_events(self, body: Any) -> list[Event]:
        """The events of a request body, checked against the state (see :mod:`~scale_pl.serve.events`)."""
        return check_events(self, body)

    def apply_events(self, events: list[Event]) -> list[Placement]:
        """Apply checked events in time order; after each timestamp, place the tasks it made ready."""
        placements: list[Placement] = []
        done_before = len(self.completed)
        i = 0
        while i < len(events):
            now = events[i].time
            self.clock = now
            ready: list[tuple[int, int]] = []
            while i < len(events) and events[i].time == now:
                ready += self._apply(events[i])
                i += 1
            for wi, t in sorted(ready):  # same ready time: workflow arrival order, then task index
                placements.append(self._decide(wi, t))
        if len(self.completed) - done_before and self._completed_in_knowledge() >= COMPACT_AFTER:
            self._compact()
        return placements

    def _apply(self, e: Event) -> list[tuple[int, int]]:
        """Record one event; returns the tasks it made ready."""
        wi, t, know = self.index[e.workflow], e.t, self.know
        if e.kind == "started":
            know.report_start(wi, t, e.time)
            return []
        know.report_finish(wi, t, e.time)
        ready = []
        for c in know.children[wi][t]:
            self.parents_left[wi][c] -= 1
            if self.parents_left[wi][c] == 0:
                know.ready[wi][c] = max(know.finish[wi][p] for p in know.parents[wi][c])
                ready.append((wi, c))
        self.unfinished[wi] -= 1
        if self.unfinished[wi] == 0:
            know.completion[wi] = max(know.finish[wi])
            self.completed[e.workflow] = self.workflow_state(e.workflow)
        return ready

    def _decide(self, wi: int, t: int) -> Placement:
        know = self.know
        now = know.ready[wi][t]
        began = time.perf_counter()
        n, transfer = know.decide(wi, t, now, self.policy, features=not isinstance(self.policy, RAW_ONLY))
        self.decision_seconds.append(time.perf_counter() - began)
        know.place(wi, t, n, now, transfer)
        self.decisions += 1
        f = know.flows[wi]
        return Placement(f.id, f.task_ids[t], self.names[n], n, now, transfer)

    # -- reading -----------------------------------------------------------------------------
    def workflow_state(self, wid: str) -> dict[str, Any]:
        """A workflow as the service knows it now: each task's state, server and reported times."""
        if wid in self.completed:
            return self.completed[wid]
        if wid not in self.index:
            raise RequestError(404, "unknown_workflow", f"no workflow {wid!r} was submitted", wid)
        wi, know = self.index[wid], self.know
        f = know.flows[wi]
        tasks = []
        for t, tid in enumerate(f.task_ids):
            n = know.server[wi][t]
            start, finish = know.start[wi][t], know.finish[wi][t]
            state = (
                "done" if finish < math.inf else "running" if start < math.inf else "queued" if n >= 0 else "waiting"
            )
            tasks.append(
                {
                    "id": tid, "type": self.catalogue.names[int(f.types[t])], "state": state,
                    "server": self.names[n] if n >= 0 else None, "ready": _finite(know.ready[wi][t]),
                    "start": _finite(start), "finish": _finite(finish),
                }
            )  # fmt: skip
        completion = _finite(know.completion[wi])
        return {
            "id": wid, "arrival": f.arrival, "state": "completed" if completion is not None else "in_system",
            "completion": completion, "response_time": None if completion is None else completion - f.arrival,
            "tasks": tasks,
        }  # fmt: skip

    def _completed_in_knowledge(self) -> int:
        return sum(1 for c in self.know.completion if c < math.inf)

    def _compact(self) -> None:
        """Drop completed workflows from the knowledge (no observation reads them once they have
        left the system); arrival order, hence the tie-break, is kept."""
        keep = [wi for wi, c in enumerate(self.know.completion) if c == math.inf]
        self.know.keep(keep)
        self.task_index = [self.task_index[wi] for wi in keep]
        self.parents_left = [self.parents_left[wi] for wi in keep]
        self.unfinished = [self.unfinished[wi] for wi in keep]
        self.index = {self.know.flows[new].id: new for new in range(len(keep))}


def _finite(x: float) -> float | None:
    return x if x < math.inf else None


def _workflow_id(spec: Any) -> str | None:
    return str(spec["id"]) if isinstance(spec, dict) and isinstance(spec.get("id"), (str, int)) else None
