"""Workflows (DAGs of typed tasks) and workloads (workflows with arrival times)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.sim.system.catalogue import Catalogue


@dataclass
class Workflow:
    """One DAG of tasks.

    Attributes:
        id: workflow identifier.
        arrival: arrival time in seconds.
        types: ``[T]`` type index of each task into the workload's catalogue.
        expected_work: ``[T]`` work the scheduler sees (seconds on a reference server).
        work: ``[T]`` actual work, drawn at generation; the scheduler never sees it.
        output_mb: ``[T]`` output size each child must receive.
        edges: ``[E, 2]`` (parent, child) task indices.
        task_ids: optional task names (from files); defaults to ``t0, t1, ...``.
        pattern: name of the generator or source that made it.
    """

    id: str
    arrival: float
    types: np.ndarray
    expected_work: np.ndarray
    work: np.ndarray
    output_mb: np.ndarray
    edges: np.ndarray
    task_ids: list[str] = field(default_factory=list)
    pattern: str = ""

    def __post_init__(self) -> None:
        self.types = np.asarray(self.types, dtype=np.int64)
        self.expected_work = np.asarray(self.expected_work, dtype=np.float64)
        self.work = np.asarray(self.work, dtype=np.float64)
        self.output_mb = np.asarray(self.output_mb, dtype=np.float64)
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        if not self.task_ids:
            self.task_ids = [f"t{i}" for i in range(self.num_tasks)]
        self.validate()

    @property
    def num_tasks(self) -> int:
        return int(self.types.size)

    def validate(self) -> None:
        """Raise a one-line :class:`ScaleError` naming the workflow and item for any inconsistency."""
        where = f"workflow {self.id!r}"
        t = self.num_tasks
        if t == 0:
            raise ScaleError(f"{where}: has no tasks")
        if not math.isfinite(self.arrival) or self.arrival < 0:
            raise ScaleError(f"{where}: arrival must be finite and >= 0, got {self.arrival}")
        for name in ("expected_work", "work", "output_mb"):
            arr = getattr(self, name)
            if arr.shape != (t,):
                raise ScaleError(f"{where}: {name} has {arr.size} entries for {t} tasks")
            bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
            if bad.size:
                raise ScaleError(f"{where}: task {self.task_ids[bad[0]]!r} has {name} {arr[bad[0]]} (must be >= 0)")
        if len(set(self.task_ids)) != t:
            dup = next(i for i in self.task_ids if self.task_ids.count(i) > 1)
            raise ScaleError(f"{where}: duplicate task id {dup!r}")
        if self.edges.size:
            if self.edges.min() < 0 or self.edges.max() >= t:
                raise ScaleError(f"{where}: an edge refers to a task index outside 0..{t - 1}")
            if (self.edges[:, 0] == self.edges[:, 1]).any():
                i = int(self.edges[self.edges[:, 0] == self.edges[:, 1]][0, 0])
                raise ScaleError(f"{where}: task {self.task_ids[i]!r} depends on itself (cycle)")
            if len({(int(a), int(b)) for a, b in self.edges}) != len(self.edges):
                raise ScaleError(f"{where}: duplicate edge")
        cycle = self._find_cycle_node()
        if cycle is not None:
            raise ScaleError(f"{where}: dependency cycle through task {self.task_ids[cycle]!r}")

    def _find_cycle_node(self) -> int | None:
        indeg = np.zeros(self.num_tasks, dtype=np.int64)
        np.add.at(indeg, self.edges[:, 1], 1)
        children = self.children()
        stack = list(np.flatnonzero(indeg == 0))
        seen = 0
        while stack:
            u = stack.pop()
            seen += 1
            for v in children[u]:
                indeg[v] -= 1
                if indeg[v] == 0:
                    stack.append(v)
        return None if seen == self.num_tasks else int(np.flatnonzero(indeg > 0)[0])

    def parents(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.num_tasks)]
        for p, c in self.edges:
            out[int(c)].append(int(p))
        return out

    def children(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.num_tasks)]
        for p, c in self.edges:
            out[int(p)].append(int(c))
        return out

    def topological_order(self) -> list[int]:
        """Tasks in an order where every parent precedes its children (Kahn, lowest index first)."""
        indeg = np.zeros(self.num_tasks, dtype=np.int64)
        np.add.at(indeg, self.edges[:, 1], 1)
        children = self.children()
        import heapq

        heap = [int(i) for i in np.flatnonzero(indeg == 0)]
        heapq.heapify(heap)
        order = []
        while heap:
            u = heapq.heappop(heap)
            order.append(u)
            for v in children[u]:
                indeg[v] -= 1
                if indeg[v] == 0:
                    heapq.heappush(heap, v)
        return order


@dataclass
class Workload:
    """Workflows sorted by arrival, with the catalogue their type indices refer to."""

    catalogue: Catalogue
    workflows: list[Workflow]

    def __post_init__(self) -> None:
        if not self.workflows:
            raise ScaleError("workload: has no workflows")
        ids = [w.id for w in self.workflows]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ScaleError(f"workload: duplicate workflow id {dup!r}")
        k = len(self.catalogue)
        for w in self.workflows:
            if w.types.min() < 0 or w.types.max() >= k:
                raise ScaleError(f"workflow {w.id!r}: a task type index is outside the catalogue")
        # Stable sort: equal arrivals keep their given order, which is the tie-break order.
        self.workflows = sorted(self.workflows, key=lambda w: w.arrival)

    @property
    def num_tasks(self) -> int:
        return sum(w.num_tasks for w in self.workflows)

    def used_types(self) -> set[int]:
        return {int(t) for w in self.workflows for t in np.unique(w.types)}
