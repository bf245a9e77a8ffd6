"""The reference simulator: sequential, an event heap, plain Python. The oracle for `SchedulingEnv`.

Written for clarity, not speed; it implements DESIGN section 1 on its own (nothing shared with
the batched environment but the data classes), so that the differential tests compare two
independent readings of the same rules.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from scale_pl.sim.cluster import Cluster
from scale_pl.sim.observation import Observation
from scale_pl.sim.reference_view import DecisionState, Placed, observation, server_view
from scale_pl.sim.workload import Workload


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
        reward_scale, time_scale, information: as in :class:`~scale_pl.sim.env.SchedulingEnv`.
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
        self.bottom = [
            self._longest(i, lambda f, t: self.latency[f.types[t]] + f.expected_work[t]) for i in range(len(self.flows))
        ]

    def _longest(self, wi: int, cost: Callable) -> list[float]:
        f = self.flows[wi]
        memo: dict[int, float] = {}
        for t in reversed(f.topological_order()):
            memo[t] = cost(f, t) + max((memo[c] for c in self.children[wi][t]), default=0.0)
        return [memo[t] for t in range(f.num_tasks)]

    def critical_path(self, wi: int) -> float:
        """The workflow's longest path on the fastest feasible servers with no queueing."""
        fastest = self.cluster.speed.max(axis=0)
        return max(self._longest(wi, lambda f, t: self.latency[f.types[t]] + f.work[t] / fastest[f.types[t]]))

    def run(self, policy: Callable[[Observation], torch.Tensor]) -> ReferenceResult:
        """Run the whole workload, asking ``policy`` for each decision (a batch of one)."""
        cl, flows = self.cluster, self.flows
        n_servers = cl.num_servers
        slot_free = [[0.0] * int(s) for s in cl.slots]
        server = [[-1] * f.num_tasks for f in flows]
        ready = [[math.inf] * f.num_tasks for f in flows]
        start = [[math.inf] * f.num_tasks for f in flows]
        finish = [[math.inf] * f.num_tasks for f in flows]
        parents_left = [[len(p) for p in ps] for ps in self.parents]
        left = [f.num_tasks for f in flows]
        completion = [math.inf] * len(flows)
        heap = []
        for wi, f in enumerate(flows):
            for t in range(f.num_tasks):
                if parents_left[wi][t] == 0:
                    ready[wi][t] = f.arrival
                    heapq.heappush(heap, (f.arrival, wi, t))
        placed_on: list[list[Placed]] = [[] for _ in range(n_servers)]  # each server's tasks, FIFO
        undecided_work = [float(sum(f.expected_work)) for f in flows]
        decision_times, actions = [], []
        while heap:
            clock, wi, t = heapq.heappop(heap)
            f = flows[wi]
            k = int(f.types[t])
            transfer = [self._transfer(wi, t, n, server) for n in range(n_servers)]
            actual_free = [min(s) for s in slot_free]
            views = [
                server_view(placed_on[n], int(cl.slots[n]), clock, actual_free[n], self.information)
                for n in range(n_servers)
            ]
            state = DecisionState(
                wi, t, clock, transfer, views, server, ready, start, finish, completion, undecided_work[wi]
            )
            n = int(policy(observation(self, state))[0])
            if not cl.speed[n, k] > 0:
                raise ValueError(f"server {n} cannot run task {f.task_ids[t]!r} of workflow {f.id!r}")
            slot = slot_free[n].index(actual_free[n])  # the earliest free slot, lowest index on ties
            server[wi][t], start[wi][t] = n, max(clock + transfer[n], actual_free[n])
            finish[wi][t] = start[wi][t] + self.latency[k] + f.work[t] / cl.speed[n, k]
            slot_free[n][slot] = finish[wi][t]
            expected = self.latency[k] + f.expected_work[t] / cl.speed[n, k]
            placed_on[n].append(Placed(wi, t, start[wi][t], finish[wi][t], expected, clock + transfer[n], clock))
            undecided_work[wi] -= float(f.expected_work[t])
            decision_times.append(clock)
            actions.append(n)
            for c in self.children[wi][t]:
                parents_left[wi][c] -= 1
                if parents_left[wi][c] == 0:
                    ready[wi][c] = max(finish[wi][p] for p in self.parents[wi][c])
                    heapq.heappush(heap, (ready[wi][c], wi, c))
            left[wi] -= 1
            if left[wi] == 0:
                completion[wi] = max(finish[wi])
        response = [c - f.arrival for c, f in zip(completion, flows, strict=True)]
        rewards = self._rewards(decision_times, completion)
        result = ReferenceResult(server, ready, start, finish, completion, response, rewards, actions)
        result.metrics = self._metrics(result)
        return result

    def _transfer(self, wi: int, t: int, n: int, server: list[list[int]]) -> float:
        f, net = self.flows[wi], self.cluster.network
        costs = [net.latency + f.output_mb[p] / net.bandwidth_mbps for p in self.parents[wi][t] if server[wi][p] != n]
        return max(costs, default=0.0)

    def _rewards(self, times: list[float], completion: list[float]) -> list[float]:
        """Reward k: minus the integral of workflows in the system from decision k to k+1 (the tail at the end)."""
        arrivals = [f.arrival for f in self.flows]

        def in_system(t0: float, t1: float) -> float:
            return sum(max(0.0, min(c, t1) - max(a, t0)) for a, c in zip(arrivals, completion, strict=True))

        bounds = [*times[1:], math.inf]
        return [-in_system(t0, t1) / self.reward_scale for t0, t1 in zip(times, bounds, strict=True)]

    def _metrics(self, r: ReferenceResult) -> dict[str, float]:
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
