"""The reference simulator: sequential, an event heap, plain Python. The oracle for `SchedulingEnv`.

Written for clarity, not speed; it implements the semantics of docs/model.md on its own (nothing shared with
the batched environment but the data classes), so that the differential tests compare two
independent readings of the same rules; the one-environment engine of ``schedule`` and ``serve``
(:mod:`scale_pl.sim.single`) is held to it the same way. Its servers
(:mod:`~scale_pl.sim.reference.execution`) are also the engine's and ``replay``'s.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from scale_pl.sim.reference.execution import ServerSlots
from scale_pl.sim.reference.knowledge import SchedulerKnowledge, longest_path
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.observation import Observation
from scale_pl.sim.system.workload import Workload


@dataclass
class ReferenceResult:
    """Per task (indexed ``[workflow][task]`` in arrival order): server, ready, start, finish."""

    server: list[list[int]]
    ready: list[list[float]]
    start: list[list[float]]
    finish: list[list[float]]
    completion: list[float]
    response_times: list[float]
    rewards: list[float]
    actions: list[int]
    metrics: dict[str, float] = field(default_factory=dict)


class ReferenceSimulator:
    """Simulates one workload on one cluster under a policy.

    Args:
        workload: the workflows; decided in order of (ready, arrival, task index).
        cluster: the servers.
        reward_scale, time_scale, information: as in :class:`~scale_pl.sim.batched.env.SchedulingEnv`.
    """

    def __init__(
        self,
        workload: Workload,
        cluster: Cluster,
        reward_scale: float = 100.0,
        time_scale: float = 2.0,
        information: str = "expected",
    ) -> None:
        if information not in ("expected", "exact_queue"):
            raise ValueError(f"information must be 'expected' or 'exact_queue', got {information!r}")
        cluster.check_runnable(workload.used_types())
        self.workload, self.cluster, self.reward_scale = workload, cluster, reward_scale
        self.time_scale, self.information = time_scale, information
        self.latency = [p.latency for p in workload.catalogue.primitives]
        self.flows = workload.workflows
        self.parents = [f.parents() for f in self.flows]
        self.children = [f.children() for f in self.flows]

    def critical_path(self, wi: int) -> float:
        """The workflow's longest path on the fastest feasible servers with no queueing."""
        fastest = self.cluster.speed.max(axis=0)
        f = self.flows[wi]
        return max(
            longest_path(f, self.children[wi], lambda f, t: self.latency[f.types[t]] + f.work[t] / fastest[f.types[t]])
        )

    def run(self, policy: Callable[[Observation], torch.Tensor]) -> ReferenceResult:
        """Run the whole workload, asking ``policy`` for each decision (a batch of one).

        The scheduler's side (belief, observation, placement) is :class:`SchedulerKnowledge`; the
        servers' side (actual start and finish) is :class:`ServerSlots`, shared with the
        one-environment engine and ``replay``. The knowledge is given the actual start and finish at placement: it
        reads them only once they are <= now, as if the servers had reported them.
        """
        cl, flows = self.cluster, self.flows
        n_servers = cl.num_servers
        know = SchedulerKnowledge(cl, self.workload.catalogue, self.time_scale, self.information)
        for f in flows:  # all at once: an observation counts only the workflows arrived by now
            know.add(f)
        slots = ServerSlots(cl.slots)
        parents_left = [[len(p) for p in ps] for ps in self.parents]
        left = [f.num_tasks for f in flows]
        heap = []
        for wi, f in enumerate(flows):
            for t in range(f.num_tasks):
                if parents_left[wi][t] == 0:
                    know.ready[wi][t] = f.arrival
                    heapq.heappush(heap, (f.arrival, wi, t))
        decision_times, actions = [], []
        while heap:
            clock, wi, t = heapq.heappop(heap)
            f = flows[wi]
            k = int(f.types[t])
            actual = [slots.free(n) for n in range(n_servers)] if self.information == "exact_queue" else None
            n, transfer = know.decide(wi, t, clock, policy, actual)
            start, finish = slots.run(n, clock + transfer, self.latency[k], f.work[t], cl.speed[n, k])
            know.place(wi, t, n, clock, transfer, start, finish)
            decision_times.append(clock)
            actions.append(n)
            for c in self.children[wi][t]:
                parents_left[wi][c] -= 1
                if parents_left[wi][c] == 0:
                    know.ready[wi][c] = max(know.finish[wi][p] for p in self.parents[wi][c])
                    heapq.heappush(heap, (know.ready[wi][c], wi, c))
            left[wi] -= 1
            if left[wi] == 0:
                know.completion[wi] = max(know.finish[wi])
        completion = know.completion
        response = [c - f.arrival for c, f in zip(completion, flows, strict=True)]
        rewards = self._rewards(decision_times, completion)
        result = ReferenceResult(
            know.server, know.ready, know.start, know.finish, completion, response, rewards, actions
        )
        result.metrics = self.metrics(result)
        return result

    def _rewards(self, times: list[float], completion: list[float]) -> list[float]:
        """Reward k: minus the integral of workflows in the system from decision k to k+1 (the tail at the end)."""
        arrivals = [f.arrival for f in self.flows]

        def in_system(t0: float, t1: float) -> float:
            return sum(max(0.0, min(c, t1) - max(a, t0)) for a, c in zip(arrivals, completion, strict=True))

        bounds = [*times[1:], math.inf]
        return [-in_system(t0, t1) / self.reward_scale for t0, t1 in zip(times, bounds, strict=True)]

    def metrics(self, r: ReferenceResult) -> dict[str, float]:
        """ART, p95, p99, slowdown, utilisation, lower bound and makespan of a finished schedule."""
        rt = np.array(r.response_times)
        cp = np.array([self.critical_path(i) for i in range(len(self.flows))])
        first = min(f.arrival for f in self.flows)
        last = max(max(fin) for fin in r.finish)
        busy = sum(fi - s for fs, ss in zip(r.finish, r.start, strict=True) for fi, s in zip(fs, ss, strict=True))
        return {
            "art": float(rt.mean()),
            "p95": float(np.percentile(rt, 95)),
            "p99": float(np.percentile(rt, 99)),
            "slowdown": float((rt / cp).mean()),
            "utilisation": busy / (int(self.cluster.slots.sum()) * (last - first)),
            "lower_bound": float(cp.mean()),
            "makespan": last - first,
        }
