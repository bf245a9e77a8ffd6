"""The scheduler of one environment: what it knows, fed by events, and its decision step.

One engine for both places that run a single environment: ``schedule`` (driven by
:func:`~scale_pl.sim.single.run.run_workload`, which plays the servers) and the placement service
(``scale_pl serve``, driven by requests). It knows what the scheduler knows under docs/model.md:
the workflows that arrived, its own placements, and the start and finish events reported to it
(times are ``inf`` until reported; a report is never later than the next decision).

A decision costs O(servers whose state changed) in Python plus a few array expressions over the
N servers (:mod:`~scale_pl.sim.single.belief`, :mod:`~scale_pl.sim.single.observe`) and the
policy. The differential tests hold it, observation by observation, to the reference simulator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from scale_pl.sim.single.belief import QueuedTask, ServerBeliefs
from scale_pl.sim.single.flows import FlowState
from scale_pl.sim.single.observe import ClusterArrays, observation, transfer_row
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.observation import Observation
from scale_pl.sim.system.workload import Workflow

Policy = Callable[[Observation], torch.Tensor]
INFORMATION = ("expected", "exact_queue")


class Scheduler:
    """The workflows in the system, the servers' beliefs, and the decision step.

    Args:
        cluster: the servers.
        catalogue: the task types workflows may use.
        time_scale: seconds scale of the log features (as in training).
        information: ``expected`` (the belief) or ``exact_queue`` (:meth:`decide` is given the
            servers' actual free times).
        features: False for a policy that reads only the raw observation fields (the heuristics).
    """

    def __init__(
        self,
        cluster: Cluster,
        catalogue: Catalogue,
        time_scale: float = 2.0,
        information: str = "expected",
        features: bool = True,
    ) -> None:
        if information not in INFORMATION:
            raise ValueError(f"information must be one of {', '.join(INFORMATION)}, got {information!r}")
        self.cluster, self.catalogue, self.information, self.features = cluster, catalogue, information, features
        self.arrays = ClusterArrays(cluster, catalogue, time_scale)
        self.beliefs = ServerBeliefs(cluster.slots)
        self.flows: dict[int, FlowState] = {}  # in the system (and completed ones not yet forgotten)
        self.inside: dict[int, float] = {}  # arrived and not completed: index -> arrival
        self.arrived = 0

    def add(self, flow: Workflow) -> FlowState:
        """A workflow arrives (in arrival order); its roots are ready at its arrival."""
        a = self.arrays
        fs = FlowState.arrive(flow, self.arrived, a.latency, a.num_types, a.time_scale)
        self.flows[fs.index] = fs
        self.inside[fs.index] = flow.arrival
        self.arrived += 1
        return fs

    def report_start(self, fs: FlowState, t: int, time: float) -> None:
        """Task ``t`` of ``fs`` (placed) started at ``time``."""
        fs.start[t] = fs.records[t].start = time
        self.beliefs.touch(int(fs.server[t]))

    def report_finish(self, fs: FlowState, t: int, time: float) -> list[int]:
        """Task ``t`` of ``fs`` (started) finished at ``time``; returns the tasks it made ready
        (their ready time set: their last parent's finish)."""
        fs.finish[t] = fs.records[t].finish = time
        self.beliefs.touch(int(fs.server[t]))
        ready = []
        for c in fs.children[t]:
            fs.parents_done[c] += 1
            if fs.parents_done[c] == fs.num_parents[c]:
                fs.ready[c] = max(fs.finish[p] for p in fs.parents[c])
                ready.append(c)
        fs.unfinished -= 1
        if fs.unfinished == 0:
            fs.completion = float(fs.finish.max())
            del self.inside[fs.index]
        return ready

    def forget(self, fs: FlowState) -> None:
        """Drop a completed workflow (no observation reads it once it has left the system)."""
        del self.flows[fs.index]

    def observe(
        self,
        fs: FlowState,
        t: int,
        now: float,
        actual_free: np.ndarray | None = None,
        transfer: np.ndarray | None = None,
    ) -> Observation:
        """The observation of placing ready task ``t`` of ``fs`` at ``now``.

        ``actual_free`` (``[N]`` each server's actual earliest free slot) only under ``exact_queue``;
        ``transfer`` (``[N]``) if the caller has it already.
        """
        beliefs = self.beliefs
        free = beliefs.free(now)
        if self.information == "exact_queue":
            free = actual_free
        if transfer is None:
            transfer = transfer_row(self.arrays, fs, t)
        return observation(
            self.arrays, fs, t, now, free, beliefs.queued, beliefs.running, transfer, list(self.inside.values()),
            self.features,
        )  # fmt: skip

    def decide(
        self, fs: FlowState, t: int, now: float, policy: Policy, actual_free: np.ndarray | None = None
    ) -> tuple[int, float]:
        """Ask ``policy`` where ready task ``t`` of ``fs`` goes at ``now``.

        Returns (server, transfer delay there); raises ValueError if that server cannot run it.
        """
        transfer = transfer_row(self.arrays, fs, t)
        n = int(policy(self.observe(fs, t, now, actual_free, transfer))[0])
        if not 0 <= n < self.arrays.num_servers or not self.arrays.feasible[n, int(fs.flow.types[t])]:
            raise ValueError(f"server {n} cannot run task {fs.flow.task_ids[t]!r} of workflow {fs.flow.id!r}")
        return n, float(transfer[n])

    def place(self, fs: FlowState, t: int, n: int, now: float, transfer: float) -> QueuedTask:
        """Record that task ``t`` of ``fs`` was placed on server ``n`` at ``now``."""
        k = int(fs.flow.types[t])
        work = float(fs.flow.expected_work[t])
        duration = self.arrays.latency[k] + work / float(self.cluster.speed[n, k])
        record = QueuedTask(fs.index, t, duration, now + transfer, now)
        fs.server[t], fs.placed_at[t], fs.records[t] = n, now, record
        fs.undecided_work -= work
        self.beliefs.add(n, record)
        return record
