"""Playing a workload against a placement service, acting as the cluster.

The replay knows the actual work (from the workload file); the service never sees it. For each
placement the replay runs the task on its server exactly as the reference simulator does
(:class:`~scale_pl.sim.reference.execution.ServerSlots`), then reports the start and finish at the times
they happen. Requests go in time order; each carries all the events up to the next moment a
decision is due (an arrival, or a finish that makes a task ready), so every event of a timestamp
reaches the service before the decisions of that timestamp, and events at time t go before
arrivals at time t. Start events never make a task ready, so they ride along with the next request.

Every request carries an ``Idempotency-Key`` derived from the workload and its position in the
replay: after a restart of the service (or of the replay) a request is answered once.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from typing import Any

from scale_pl.client import PlacementClient
from scale_pl.errors import ScaleError
from scale_pl.io.workload_file import workflow_to_dict
from scale_pl.sim.reference.execution import ServerSlots, transfer_delay
from scale_pl.sim.single.run import Run, schedule_json
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.workload import Workload

STARTED, FINISHED = 0, 1  # at one timestamp starts go first: a zero-length task starts, then finishes
KIND_NAMES = ("started", "finished")


def public_spec(workload: Workload, wi: int) -> dict[str, Any]:
    """Workflow ``wi`` as the runtime submits it: expected work only, never the actual."""
    spec = workflow_to_dict(workload.workflows[wi], workload.catalogue)
    for task, expected in zip(spec["tasks"], workload.workflows[wi].expected_work, strict=True):
        task["work"] = float(expected)
        task.pop("expected_work", None)
    return spec


class Replay:
    """One run of ``workload`` on ``cluster`` against the service behind ``client``."""

    def __init__(
        self, workload: Workload, cluster: Cluster, client: PlacementClient, run_id: str | None = None
    ) -> None:
        self.workload, self.cluster, self.client = workload, cluster, client
        self.flows = workload.workflows
        self.index = {f.id: (wi, {tid: t for t, tid in enumerate(f.task_ids)}) for wi, f in enumerate(self.flows)}
        self.parents = [f.parents() for f in self.flows]
        self.children = [f.children() for f in self.flows]
        self.latency = [p.latency for p in workload.catalogue.primitives]
        self.names = cluster.server_names
        self.slots = ServerSlots(cluster.slots)
        shape = [[math.inf] * f.num_tasks for f in self.flows]
        self.server = [[-1] * f.num_tasks for f in self.flows]
        self.ready, self.start, self.finish = ([row[:] for row in shape] for _ in range(3))
        self.parents_left = [[len(p) for p in ps] for ps in self.parents]
        self.pending: list[tuple[float, int, int, int, int]] = []  # (time, kind, seq, workflow, task)
        self.seq = self.requests = 0
        self.run_id = run_id or _fingerprint(workload)

    def run(self) -> dict[str, Any]:
        """Play the whole workload; the schedule JSON of ``schedule``."""
        self._check_service()
        arrivals = list(range(len(self.flows)))  # already in arrival order
        while arrivals or self.pending:
            arrival = self.flows[arrivals[0]].arrival if arrivals else math.inf
            batch = self._next_batch(arrival)
            if batch:
                events = [
                    {"workflow": self.flows[wi].id, "task": self.flows[wi].task_ids[t], "kind": KIND_NAMES[k],
                     "time": time}
                    for time, k, _, wi, t in batch
                ]  # fmt: skip
                self._place(self.client.events(events, key=self._key("events")))
            else:
                wi = arrivals.pop(0)
                for t in range(self.flows[wi].num_tasks):
                    if not self.parents[wi][t]:
                        self.ready[wi][t] = self.flows[wi].arrival
                spec = public_spec(self.workload, wi)
                self._place(self.client.submit(spec, key=self._key(f"submit:{spec['id']}")))
        missing = [(f.id, f.task_ids[t]) for wi, f in enumerate(self.flows) for t in range(f.num_tasks)
                   if self.server[wi][t] < 0]  # fmt: skip
        if missing:
            raise ScaleError(f"the service never placed task {missing[0][1]!r} of workflow {missing[0][0]!r}")
        return self.schedule()

    def _next_batch(self, arrival: float) -> list[tuple[float, int, int, int, int]]:
        """Pending events up to the first that makes a task ready (with all others of its timestamp),
        none later than the next arrival."""
        batch, due = [], None
        while self.pending and self.pending[0][0] <= arrival and (due is None or self.pending[0][0] == due):
            event = heapq.heappop(self.pending)
            time, kind, _, wi, t = event
            batch.append(event)
            if kind == FINISHED:
                for c in self.children[wi][t]:
                    self.parents_left[wi][c] -= 1
                    if self.parents_left[wi][c] == 0:
                        self.ready[wi][c] = max(self.finish[wi][p] for p in self.parents[wi][c])
                        due = time
        return batch

    def _place(self, placements: list[dict[str, Any]]) -> None:
        """Run the placed tasks, in decision order, as the reference simulator's servers would."""
        for p in placements:
            wi, tasks = self.index.get(str(p["workflow"]), (None, {}))
            t = tasks.get(str(p["task"]))
            if wi is None or t is None or self.server[wi][t] >= 0 or self.ready[wi][t] == math.inf:
                raise ScaleError(f"the service placed task {p['task']!r} of workflow {p['workflow']!r} unexpectedly")
            f, n = self.flows[wi], int(p["server_index"])
            k = int(f.types[t])
            now = self.ready[wi][t]
            if p["time"] != now:  # the service decides at the ready time the runtime reported
                raise ScaleError(
                    f"the service placed task {p['task']!r} of workflow {f.id!r} at {p['time']}, not {now}"
                )
            transfer = transfer_delay(self.cluster.network, f.output_mb, self.parents[wi][t], self.server[wi], n)
            start, finish = self.slots.run(n, now + transfer, self.latency[k], f.work[t], self.cluster.speed[n, k])
            self.server[wi][t], self.start[wi][t], self.finish[wi][t] = n, start, finish
            for kind, time in ((STARTED, start), (FINISHED, finish)):
                heapq.heappush(self.pending, (time, kind, self.seq, wi, t))
                self.seq += 1

    def _key(self, what: str) -> str:
        self.requests += 1
        return f"replay:{self.run_id}:{self.requests}:{what}"

    def _check_service(self) -> None:
        info = self.client.info()
        servers = [(s["id"], s["slots"]) for s in info.get("servers", [])]
        mine = list(zip(self.names, self.cluster.slots.tolist(), strict=True))
        if servers != mine:
            raise ScaleError(f"the service at {self.client.url} runs another cluster ({len(servers)} servers)")
        unknown = sorted(set(self.workload.catalogue.names) - set(info.get("catalogue", [])))
        if unknown:
            raise ScaleError(f"the service does not know the task type {unknown[0]!r}")

    def schedule(self) -> dict[str, Any]:
        """The schedule JSON of ``schedule`` (same keys, same metrics)."""
        run = Run(self.server, self.ready, self.start, self.finish, self.workload.num_tasks)
        return schedule_json(self.workload, self.cluster, run)


def _fingerprint(workload: Workload) -> str:
    """A short id of the workload (actual work included): the same workload gives the same keys."""
    data = [workflow_to_dict(f, workload.catalogue) for f in workload.workflows]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
