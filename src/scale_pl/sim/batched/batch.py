"""Packing B (workload, cluster) pairs into padded tensors for :class:`~scale_pl.sim.batched.env.SchedulingEnv`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from scale_pl.errors import ScaleError
from scale_pl.sim.generators.generator import WorkloadGenerator, workloads
from scale_pl.sim.system.cluster import Cluster, ClusterSpec
from scale_pl.sim.system.workload import Workload


@dataclass
class WorkloadBatch:
    """Padded tensors of B environments.

    Tasks are addressed by a flat index ``w * M + t`` over ``W + 1`` workflow rows: the last row
    is an empty sink that padded parent/child indices point at, so scatters never collide with a
    real task. Workflows are in arrival order, so "lower flat index" is the simulator's tie-break.

    Edges are stored once per environment in compressed rows (CSR), not as ``[B, T, max parents]``
    tables, so memory follows the number of edges, not the largest fan-in of the batch. The child
    lists of tasks in flat order put each workflow's edges next to each other.

    Shapes (B envs, W workflows, M tasks per workflow, N servers, S slots, K types, E edges per
    environment, padded with sink-to-sink entries):
        arrival ``[B, W+1]`` (inf for padding), wf_valid ``[B, W+1]``,
        task_valid, type, exp_work, work, out_mb, n_parents, n_children ``[B, T]`` with T = (W+1) M,
        parent_ptr, child_ptr ``[B, T]`` offsets into parent_idx, child_idx ``[B, E]`` (flat task
        indices); edge_src ``[B, E]`` the parent of each child_idx entry; edge_ptr, n_edges
        ``[B, W+1]`` each workflow's slice of the child lists; wf_edges ``[B, W+1, max_edges, 2]``
        the same slices as (parent, child) indices into the workflow's own tasks (0 beyond n_edges,
        the smallest integer type that holds M: the observation copies one row per decision),
        speed ``[B, N, K]``, slots ``[B, N]``, server_class ``[B, N]``, server_valid ``[B, N]``,
        latency ``[B, K]``, net_latency, bandwidth ``[B]``.
    max_parents, max_children and max_edges (per workflow) bound the per-task and per-workflow lists.
    """

    arrival: torch.Tensor
    wf_valid: torch.Tensor
    task_valid: torch.Tensor
    type: torch.Tensor
    exp_work: torch.Tensor
    work: torch.Tensor
    out_mb: torch.Tensor
    n_parents: torch.Tensor
    n_children: torch.Tensor
    parent_ptr: torch.Tensor
    parent_idx: torch.Tensor
    child_ptr: torch.Tensor
    child_idx: torch.Tensor
    edge_src: torch.Tensor
    edge_ptr: torch.Tensor
    n_edges: torch.Tensor
    wf_edges: torch.Tensor
    speed: torch.Tensor
    slots: torch.Tensor
    server_class: torch.Tensor
    server_valid: torch.Tensor
    latency: torch.Tensor
    net_latency: torch.Tensor
    bandwidth: torch.Tensor
    num_classes: int
    max_parents: int
    max_children: int
    max_edges: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(B, W + 1, M)."""
        b, w1 = self.arrival.shape
        return b, w1, self.type.shape[1] // w1

    def to(self, device: torch.device | str) -> WorkloadBatch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()}
        return WorkloadBatch(**moved)

    def select(self, idx: torch.Tensor) -> WorkloadBatch:
        """The environments ``idx`` (may repeat: tiling a pool of workloads to a large B)."""
        picked = {f.name: getattr(self, f.name) for f in fields(self)}
        picked = {k: v[idx.to(v.device)] if isinstance(v, torch.Tensor) else v for k, v in picked.items()}
        return WorkloadBatch(**picked)

    @staticmethod
    def cat(batches: list[WorkloadBatch]) -> WorkloadBatch:
        """The environments of ``batches`` one after the other; they must share their padding."""
        first = batches[0]
        for other in batches[1:]:
            if other.shape[1:] != first.shape[1:] or other.speed.shape[1:] != first.speed.shape[1:]:
                raise ValueError("WorkloadBatch.cat: the batches are padded differently")
        joined = {}
        for f in fields(first):
            values = [getattr(b, f.name) for b in batches]
            joined[f.name] = torch.cat(values) if isinstance(values[0], torch.Tensor) else values[0]
        return WorkloadBatch(**joined)

    @classmethod
    def from_pairs(cls, pairs: list[tuple[Workload, Cluster]], dtype: torch.dtype = torch.float64) -> WorkloadBatch:
        """Pack (workload, cluster) pairs; clusters may differ in size (padded servers are masked)."""
        if not pairs:
            raise ScaleError("cannot build a batch of 0 environments")
        for wl, cl in pairs:
            cl.check_runnable(wl.used_types())
        b = len(pairs)
        w = max(len(wl.workflows) for wl, _ in pairs)
        m = max(f.num_tasks for wl, _ in pairs for f in wl.workflows)
        t = (w + 1) * m
        sink = w * m
        k = max(len(wl.catalogue) for wl, _ in pairs)
        n = max(cl.num_servers for _, cl in pairs)
        flows = [f for wl, _ in pairs for f in wl.workflows]
        p = max(1, max(int(np.bincount(f.edges[:, 1], minlength=1).max()) for f in flows))
        q = max(1, max(int(np.bincount(f.edges[:, 0], minlength=1).max()) for f in flows))
        e_wf = max(1, max(len(f.edges) for f in flows))
        e = 1 + max(sum(len(f.edges) for f in wl.workflows) for wl, _ in pairs)  # >= 1 sink entry per env

        arrival = np.full((b, w + 1), np.inf)
        task_valid = np.zeros((b, t), bool)
        typ = np.zeros((b, t), np.int64)
        exp_work, work, out_mb = (np.zeros((b, t)) for _ in range(3))
        n_par, n_ch, parent_ptr, child_ptr = (np.zeros((b, t), np.int64) for _ in range(4))
        parent_idx, child_idx, edge_src = (np.full((b, e), sink, np.int64) for _ in range(3))
        edge_ptr, n_edges = np.zeros((b, w + 1), np.int64), np.zeros((b, w + 1), np.int64)
        for i, (wl, _) in enumerate(pairs):
            parent_rows, child_rows = [], []
            edges_before = 0  # edges of the workflows before j: a running count (re-summing was quadratic)
            for j, f in enumerate(wl.workflows):
                base, nt = j * m, f.num_tasks
                arrival[i, j] = f.arrival
                sl = slice(base, base + nt)
                task_valid[i, sl] = True
                typ[i, sl], exp_work[i, sl], work[i, sl], out_mb[i, sl] = f.types, f.expected_work, f.work, f.output_mb
                edge_ptr[i, j], n_edges[i, j] = edges_before, len(f.edges)
                edges_before += len(f.edges)
                parent_rows += [[base + x for x in plist] for plist in f.parents()] + [[]] * (m - nt)
                child_rows += [[base + x for x in clist] for clist in f.children()] + [[]] * (m - nt)
            for ptr, count, idx, lists in (
                (parent_ptr, n_par, parent_idx, parent_rows),
                (child_ptr, n_ch, child_idx, child_rows),
            ):
                lengths = np.array([len(x) for x in lists] + [0] * (t - len(lists)), np.int64)
                count[i], ptr[i] = lengths, np.concatenate(([0], np.cumsum(lengths)[:-1]))
                flat = [x for row in lists for x in row]
                idx[i, : len(flat)] = flat
            edge_src[i, : int(n_ch[i].sum())] = np.repeat(np.arange(t), n_ch[i])
        wf_edges = np.zeros((b, w + 1, e_wf, 2), np.min_scalar_type(-m))
        for i, (wl, _) in enumerate(pairs):
            for j in range(len(wl.workflows)):
                sl = slice(edge_ptr[i, j], edge_ptr[i, j] + n_edges[i, j])
                wf_edges[i, j, : n_edges[i, j]] = np.stack((edge_src[i, sl], child_idx[i, sl]), axis=1) - j * m

        speed = np.zeros((b, n, k))
        slots = np.zeros((b, n), np.int64)
        server_class = np.zeros((b, n), np.int64)
        server_valid = np.zeros((b, n), bool)
        latency = np.zeros((b, k))
        net_latency, bandwidth = np.zeros(b), np.ones(b)
        for i, (wl, cl) in enumerate(pairs):
            ns, nk = cl.num_servers, len(wl.catalogue)
            speed[i, :ns, :nk] = cl.speed
            slots[i, :ns], server_class[i, :ns], server_valid[i, :ns] = cl.slots, cl.server_class, True
            latency[i, :nk] = [pr.latency for pr in wl.catalogue.primitives]
            net_latency[i], bandwidth[i] = cl.network.latency, cl.network.bandwidth_mbps

        def f_(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x, dtype=dtype)

        def i_(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x)

        return cls(
            arrival=f_(arrival),
            wf_valid=i_(np.isfinite(arrival)),
            task_valid=i_(task_valid),
            type=i_(typ),
            exp_work=f_(exp_work),
            work=f_(work),
            out_mb=f_(out_mb),
            n_parents=i_(n_par),
            n_children=i_(n_ch),
            parent_ptr=i_(parent_ptr),
            parent_idx=i_(parent_idx),
            child_ptr=i_(child_ptr),
            child_idx=i_(child_idx),
            edge_src=i_(edge_src),
            edge_ptr=i_(edge_ptr),
            n_edges=i_(n_edges),
            wf_edges=i_(wf_edges),
            speed=f_(speed),
            slots=i_(slots),
            server_class=i_(server_class),
            server_valid=i_(server_valid),
            latency=f_(latency),
            net_latency=f_(net_latency),
            bandwidth=f_(bandwidth),
            num_classes=max(len(cl.classes) for _, cl in pairs),
            max_parents=p,
            max_children=q,
            max_edges=e_wf,
        )


def workload_batch(
    generator: WorkloadGenerator, spec: ClusterSpec, num_servers: int, seeds: Sequence[int]
) -> WorkloadBatch:
    """:func:`~scale_pl.sim.generators.generator.workloads` packed into one batch."""
    return WorkloadBatch.from_pairs(workloads(generator, spec, num_servers, seeds))
