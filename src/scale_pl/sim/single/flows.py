"""One workflow as the one-environment scheduler knows it: its DAG, what never changes about its
tasks (computed once, at arrival), and per task the placement and the reported events."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from scale_pl.sim.single.belief import QueuedTask
from scale_pl.sim.system.workload import Workflow

INF = math.inf


def bottom_levels(flow: Workflow, children: list[list[int]], latency: list[float]) -> np.ndarray:
    """``[M]`` per task, the longest path to a sink on expected durations (latency + expected
    work, no speed-up), the task itself included."""
    level = [0.0] * flow.num_tasks
    for t in reversed(flow.topological_order()):
        k = int(flow.types[t])
        level[t] = latency[k] + float(flow.expected_work[t]) + max((level[c] for c in children[t]), default=0.0)
    return np.array(level)


@dataclass(eq=False)
class FlowState:
    """A workflow in the system, indexed by ``index`` (arrival order: the tie-break between tasks
    ready at the same time). Arrays are ``[M]`` over its tasks; times are ``inf`` until known.

    Attributes:
        static: ``[M, K + 2]`` float32 node features that never change: type one-hot,
            log1p(expected work / time scale), log1p(bottom level / time scale).
        parents_done: parents whose finish was reported.
        records: each placed task's entry in its server's queue (the belief reads it).
    """

    flow: Workflow
    index: int
    parents: list[list[int]]
    children: list[list[int]]
    bottom: np.ndarray
    static: np.ndarray
    edges: torch.Tensor  # [1, E, 2] long
    node_mask: torch.Tensor = field(init=False)  # [1, M] all True
    edge_mask: torch.Tensor = field(init=False)  # [1, E] all True
    server: np.ndarray = field(init=False)
    ready: np.ndarray = field(init=False)
    placed_at: np.ndarray = field(init=False)
    start: np.ndarray = field(init=False)
    finish: np.ndarray = field(init=False)
    num_parents: np.ndarray = field(init=False)
    parents_done: np.ndarray = field(init=False)
    records: list[QueuedTask | None] = field(init=False)
    undecided_work: float = field(init=False)
    unfinished: int = field(init=False)
    completion: float = INF

    def __post_init__(self) -> None:
        m = self.flow.num_tasks
        self.node_mask = torch.ones(1, m, dtype=torch.bool)
        self.edge_mask = torch.ones(1, self.edges.shape[1], dtype=torch.bool)
        self.server = np.full(m, -1, dtype=np.int64)
        self.ready, self.placed_at, self.start, self.finish = (np.full(m, INF) for _ in range(4))
        self.num_parents = np.array([len(p) for p in self.parents], dtype=np.int64)
        self.parents_done = np.zeros(m, dtype=np.int64)
        self.records = [None] * m
        self.undecided_work = float(sum(self.flow.expected_work))
        self.unfinished = m

    @classmethod
    def arrive(cls, flow: Workflow, index: int, latency: list[float], num_types: int, time_scale: float) -> FlowState:
        """The state of a workflow that just arrived: nothing placed, roots ready at its arrival."""
        children = flow.children()
        bottom = bottom_levels(flow, children, latency)
        static = np.zeros((flow.num_tasks, num_types + 2), dtype=np.float32)
        static[np.arange(flow.num_tasks), flow.types] = 1.0
        static[:, num_types] = np.log1p(flow.expected_work / time_scale)
        static[:, num_types + 1] = np.log1p(bottom / time_scale)
        edges = torch.as_tensor(flow.edges, dtype=torch.long).reshape(1, -1, 2)
        state = cls(flow, index, flow.parents(), children, bottom, static, edges)
        state.ready[state.num_parents == 0] = flow.arrival
        return state

    @property
    def roots(self) -> list[int]:
        return np.flatnonzero(self.num_parents == 0).tolist()

    def slack(self, t: int) -> float:
        """Largest bottom level among the undecided tasks (``t`` included) minus ``t``'s."""
        return float(self.bottom[self.server < 0].max()) - float(self.bottom[t])

    def node_states(self, t: int, now: float) -> np.ndarray:
        """``[M, 6]`` float32: done, running, queued, ready, waiting, is-the-task-to-place.

        A task placed at ``now`` is queued at ``now`` even if its start was reported at ``now``
        (it was decided at its ready time, so ``ready < now`` says it was placed before now).
        """
        placed = self.server >= 0
        started = placed & (self.ready < now) & (self.start <= now)
        done = started & (self.finish <= now)
        waiting = ~placed & (self.parents_done < self.num_parents)
        states = np.zeros((len(placed), 6), dtype=np.float32)
        states[:, 0] = done
        states[:, 1] = started & ~done
        states[:, 2] = placed & ~started
        states[:, 3] = ~placed & ~waiting
        states[:, 4] = waiting
        states[t, 5] = 1.0
        return states
