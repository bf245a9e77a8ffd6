"""What the reference simulator's scheduler knows, and its decision step.

:class:`SchedulerKnowledge` holds the workflows the scheduler has seen, the placements it made
and the start and finish times of its tasks, and decides one ready task with
:func:`~scale_pl.sim.reference.view.server_view` and
:func:`~scale_pl.sim.reference.view.observation`. Start and finish times are the actual ones,
known in advance, and read only where they are <= ``now`` (and the task was placed before
``now``): what the servers would have reported by then. The one-environment engine
(:mod:`scale_pl.sim.single`) is the fast reading of the same rules, held to this one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from scale_pl.sim.reference.execution import transfer_delay
from scale_pl.sim.reference.view import DecisionState, Placed, observation, server_view
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.observation import Observation
from scale_pl.sim.system.workload import Workflow

Policy = Callable[[Observation], torch.Tensor]


def longest_path(flow: Workflow, children: list[list[int]], cost: Callable[[Workflow, int], float]) -> list[float]:
    """Per task, the longest ``cost``-weighted path from it to a sink (itself included)."""
    memo: dict[int, float] = {}
    for t in reversed(flow.topological_order()):
        memo[t] = cost(flow, t) + max((memo[c] for c in children[t]), default=0.0)
    return [memo[t] for t in range(flow.num_tasks)]


class SchedulerKnowledge:
    """The scheduler's knowledge of the workflows it was given, indexed ``[workflow][task]``.

    Workflows are indexed in arrival order (equal arrivals in the order given): that index is
    the tie-break between tasks ready at the same time.

    Args:
        cluster: the servers.
        catalogue: the task types the workflows' type indices refer to.
        time_scale: seconds scale of the log features (as in the environment).
        information: ``expected`` (a belief from expected durations and reported events) or
            ``exact_queue`` (``decide`` is then given the servers' actual free times).
    """

    def __init__(
        self, cluster: Cluster, catalogue: Catalogue, time_scale: float = 2.0, information: str = "expected"
    ) -> None:
        self.cluster, self.catalogue, self.time_scale, self.information = cluster, catalogue, time_scale, information
        self.latency = [p.latency for p in catalogue.primitives]
        self.flows: list[Workflow] = []
        self.parents: list[list[list[int]]] = []
        self.children: list[list[list[int]]] = []
        self.bottom: list[list[float]] = []  # bottom level on expected durations (latency + expected work)
        self.server: list[list[int]] = []  # -1 until placed
        self.ready: list[list[float]] = []
        self.start: list[list[float]] = []  # read only where <= now (reference: actual; service: inf until reported)
        self.finish: list[list[float]] = []
        self.placed: list[list[Placed | None]] = []
        self.completion: list[float] = []
        self.undecided_work: list[float] = []
        self.placed_on: list[list[Placed]] = [[] for _ in range(cluster.num_servers)]  # each server's tasks, FIFO

    def add(self, flow: Workflow) -> int:
        """Learn of a workflow (arrival order); returns its index."""
        children = flow.children()
        self.flows.append(flow)
        self.parents.append(flow.parents())
        self.children.append(children)
        self.bottom.append(longest_path(flow, children, lambda f, t: self.latency[f.types[t]] + f.expected_work[t]))
        m = flow.num_tasks
        self.server.append([-1] * m)
        self.ready.append([math.inf] * m)
        self.start.append([math.inf] * m)
        self.finish.append([math.inf] * m)
        self.placed.append([None] * m)
        self.completion.append(math.inf)
        self.undecided_work.append(float(sum(flow.expected_work)))
        return len(self.flows) - 1

    def transfer(self, wi: int, t: int, n: int) -> float:
        """Transfer delay of task ``t`` of workflow ``wi`` on server ``n`` (its parents are placed)."""
        f = self.flows[wi]
        return transfer_delay(self.cluster.network, f.output_mb, self.parents[wi][t], self.server[wi], n)

    def decide(
        self,
        wi: int,
        t: int,
        now: float,
        policy: Policy,
        actual_free: list[float] | None = None,
        features: bool = True,
    ) -> tuple[int, float]:
        """Ask ``policy`` where ready task ``t`` of workflow ``wi`` goes at time ``now``.

        ``actual_free`` (each server's actual earliest free slot) is needed only under
        ``exact_queue``; ``features=False`` for a policy that reads only the raw fields (the
        heuristics). Returns (server, transfer delay there); raises if the server cannot run it.
        """
        cl, f = self.cluster, self.flows[wi]
        n_servers = cl.num_servers
        self._forget_finished(now)
        transfer = [self.transfer(wi, t, n) for n in range(n_servers)]
        free = actual_free if actual_free is not None else [math.inf] * n_servers
        views = [
            server_view(self.placed_on[n], int(cl.slots[n]), now, free[n], self.information) for n in range(n_servers)
        ]
        state = DecisionState(
            wi, t, now, transfer, views, self.server, self.ready, self.start, self.finish, self.completion,
            self.undecided_work[wi],
        )  # fmt: skip
        n = int(policy(observation(self, state, features))[0])
        if not 0 <= n < n_servers or not cl.speed[n, int(f.types[t])] > 0:
            raise ValueError(f"server {n} cannot run task {f.task_ids[t]!r} of workflow {f.id!r}")
        return n, transfer[n]

    def place(
        self, wi: int, t: int, n: int, now: float, transfer: float, start: float = math.inf, finish: float = math.inf
    ) -> Placed:
        """Record that task ``t`` of workflow ``wi`` was placed on server ``n`` at ``now``, with its
        actual ``start`` and ``finish`` (read only once they are <= now)."""
        f, k = self.flows[wi], int(self.flows[wi].types[t])
        expected = self.latency[k] + f.expected_work[t] / self.cluster.speed[n, k]
        placed = Placed(wi, t, start, finish, expected, now + transfer, now)
        self.server[wi][t], self.start[wi][t], self.finish[wi][t] = n, start, finish
        self.placed[wi][t] = placed
        self.placed_on[n].append(placed)
        self.undecided_work[wi] -= float(f.expected_work[t])
        return placed

    def _forget_finished(self, now: float) -> None:
        """Drop tasks known to have finished from the servers' queues: the belief ignores them, and
        decision times never go back, so they would only make every later belief slower to build."""
        for n, queue in enumerate(self.placed_on):
            if any(p.placed < now and p.finish <= now for p in queue):
                self.placed_on[n] = [p for p in queue if not (p.placed < now and p.finish <= now)]
