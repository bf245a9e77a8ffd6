"""The observation of one decision, built in arrays (docs/model.md; the field layouts are in
:mod:`scale_pl.sim.system.observation`).

Every per-server quantity is one array expression over the N servers, computed in float64 as the
reference simulator computes it element by element (:mod:`scale_pl.sim.reference.view`, the
oracle the differential tests hold this to), then handed to the policy as tensors of a batch of one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from scale_pl.sim.single.flows import FlowState
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.observation import Observation

_EMPTY = torch.zeros(1, 0)
_RAW_ONLY = {  # what a heuristic's observation leaves empty (it reads only the raw fields)
    "task": _EMPTY, "nodes": _EMPTY[:, :, None], "node_mask": torch.zeros(1, 0, dtype=torch.bool),
    "edges": torch.zeros(1, 0, 2, dtype=torch.long), "edge_mask": torch.zeros(1, 0, dtype=torch.bool),
    "servers": _EMPTY[:, :, None], "system": _EMPTY,
}  # fmt: skip
_NOT_DONE = torch.tensor([False])


class ClusterArrays:
    """What never changes about the cluster, as the arrays the observation reads.

    Args:
        cluster: the servers.
        catalogue: the task types (their latency floors).
        time_scale: seconds scale of the log features.
    """

    def __init__(self, cluster: Cluster, catalogue: Catalogue, time_scale: float) -> None:
        self.num_servers, self.num_types = cluster.speed.shape
        self.num_classes = len(cluster.classes)
        self.time_scale = time_scale
        self.network = cluster.network
        self.latency = [p.latency for p in catalogue.primitives]
        self.feasible = cluster.speed > 0  # [N, K]
        self.infeasible = [np.flatnonzero(~self.feasible[:, k]) for k in range(self.num_types)]
        self.speed = [np.ascontiguousarray(cluster.speed[:, k]) for k in range(self.num_types)]
        self.divisor = [np.where(self.feasible[:, k], cluster.speed[:, k], 1.0) for k in range(self.num_types)]
        self.mask = [torch.from_numpy(self.feasible[:, k].copy()).view(1, -1) for k in range(self.num_types)]
        self.speed_row = [torch.from_numpy(s).view(1, -1) for s in self.speed]
        self.slots = cluster.slots.astype(np.float64)
        self.server_class = cluster.server_class
        size = np.bincount(cluster.server_class, minlength=self.num_classes)
        self.class_divisor = np.maximum(size, 1).astype(np.float64)  # a class without servers has backlog 0
        c = self.num_classes
        self.server_template = []  # per type: the constant columns (class one-hot, speed, log1p(slots))
        for k in range(self.num_types):
            rows = np.zeros((self.num_servers, c + 8), dtype=np.float32)
            rows[np.arange(self.num_servers), cluster.server_class] = 1.0
            rows[:, c] = self.speed[k]
            rows[:, c + 1] = np.log1p(self.slots)
            self.server_template.append(rows)

    def log_t(self, x: np.ndarray | float) -> np.ndarray:
        """``log1p(max(x, 0) / time_scale)``: how every duration enters the learned features."""
        return np.log1p(np.maximum(x, 0.0) / self.time_scale)


def transfer_row(c: ClusterArrays, fs: FlowState, t: int) -> np.ndarray:
    """``[N]`` transfer delay of task ``t`` on each server: the largest latency + output / bandwidth
    over its parents placed elsewhere (0 if every parent ran there)."""
    parents = fs.parents[t]
    if not parents:
        return np.zeros(c.num_servers)
    out, net = fs.flow.output_mb, c.network
    cost = [(net.latency + out[p] / net.bandwidth_mbps, int(fs.server[p])) for p in parents]
    row = np.full(c.num_servers, max(x for x, _ in cost))
    for n in {s for _, s in cost}:  # only the parents' own servers differ from the largest cost
        row[n] = max((x for x, s in cost if s != n), default=0.0)
    return row


def observation(
    c: ClusterArrays, fs: FlowState, t: int, now: float, free: np.ndarray, queued: np.ndarray,
    running: np.ndarray, transfer: np.ndarray, arrivals: list[float], features: bool = True,
) -> Observation:  # fmt: skip
    """The observation of placing task ``t`` of ``fs`` at ``now``.

    Args:
        c: the cluster's arrays.
        fs: the task's workflow.
        free, queued, running: ``[N]`` each server's believed (or, under ``exact_queue``, actual)
            earliest free slot and its queue counts at ``now``.
        transfer: ``[N]`` from :func:`transfer_row`.
        arrivals: arrival times of the workflows in the system (arrived, not completed).
        features: False for a policy that reads only the raw fields (the heuristics): the
            learned features are left empty, which saves most of the cost.
    """
    k = int(fs.flow.types[t])
    work = float(fs.flow.expected_work[t])
    est = np.maximum(now + transfer, free)  # the order of operations of the reference, element by element
    est += c.latency[k]
    est += work / c.divisor[k]
    est -= now
    est[c.infeasible[k]] = np.inf
    backlog = np.maximum(free - now, 0.0)
    bottom = float(fs.bottom[t])
    levels = torch.from_numpy(np.array([bottom, fs.slack(t)]))
    raw = {
        "current": torch.from_numpy(np.array([t])), "mask": c.mask[k], "est_finish": _row(est),
        "backlog": _row(backlog), "speed": c.speed_row[k], "transfer": _row(transfer), "bottom_level": levels[:1],
        "slack": levels[1:], "done": _NOT_DONE,
    }  # fmt: skip
    if not features:
        return Observation(**_RAW_ONLY, **raw)
    task = np.zeros(c.num_types + 5, dtype=np.float32)
    task[k] = 1.0
    ts = c.time_scale
    task[c.num_types :] = [
        math.log1p(work / ts), math.log1p(bottom / ts), math.log1p(len(fs.children[t])),
        math.log1p(max(now - fs.flow.arrival, 0.0) / ts), math.log1p(max(fs.undecided_work, 0.0) / ts),
    ]  # fmt: skip
    nodes = np.concatenate([fs.static, fs.node_states(t, now)], axis=1)
    return Observation(
        task=_row(task),
        nodes=_row(nodes),
        node_mask=fs.node_mask,
        edges=fs.edges,
        edge_mask=fs.edge_mask,
        servers=_row(server_features(c, k, est, backlog, transfer, queued, running)),
        system=_row(system_features(c, now, backlog, arrivals)),
        **raw,
    )


def _row(x: np.ndarray) -> torch.Tensor:
    """``x`` as a batch of one, sharing its memory."""
    return torch.from_numpy(x[None])


def server_features(
    c: ClusterArrays, k: int, est: np.ndarray, backlog: np.ndarray, transfer: np.ndarray, queued: np.ndarray,
    running: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """``[N, C + 8]`` float32: class one-hot, speed, log1p(slots), backlog, expected finish, log(EFT /
    best EFT), transfer, queued and running tasks per slot (0 for the last five where infeasible)."""
    infeasible = c.infeasible[k]
    eft = est.copy()
    eft[infeasible] = 0.0
    best = min(max(float(est.min()), 1e-9), 1e300)
    ratio = np.log(np.maximum(eft, 1e-9) / best)
    np.maximum(ratio, 0.0, out=ratio)
    ratio[infeasible] = 0.0
    rows = c.server_template[k].copy()
    col = c.num_classes + 2
    rows[:, col] = c.log_t(backlog)
    rows[:, col + 1] = c.log_t(eft)
    rows[:, col + 2] = ratio
    rows[:, col + 3] = c.log_t(transfer)
    rows[:, col + 4] = queued / c.slots
    rows[:, col + 5] = running / c.slots
    return rows


def system_features(c: ClusterArrays, now: float, backlog: np.ndarray, arrivals: list[float]) -> np.ndarray:
    """``[C + 2]`` float32: workflows in the system per server, their mean age, each class's mean backlog."""
    inside = len(arrivals)
    age = sum(now - a for a in arrivals) / max(inside, 1)
    out = np.empty(c.num_classes + 2, dtype=np.float32)
    out[0], out[1] = inside / c.num_servers, math.log1p(max(age, 0.0) / c.time_scale)
    out[2:] = c.log_t(np.bincount(c.server_class, weights=backlog, minlength=c.num_classes) / c.class_divisor)
    return out
