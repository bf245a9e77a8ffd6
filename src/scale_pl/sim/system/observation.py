"""The observation the simulators hand to a policy: size-free by construction.

No feature carries a server index or grows with N: per-server quantities, ratios and
log-scaled times (``log1p(seconds / time_scale)``). Feature layouts, for K task types and C
server classes:

- ``task`` ``[B, K + 5]``: type one-hot, expected work, bottom level, log1p(#children),
  workflow age, workflow remaining expected work.
- ``nodes`` ``[B, M, K + 8]``: per task of the current workflow: type one-hot, expected work,
  bottom level, state one-hot (done, running, queued, ready, waiting), is-the-task-to-place.
- ``servers`` ``[B, N, C + 8]``: class one-hot, speed for this task's type, log1p(slots),
  backlog, expected finish of this task there (incl. transfer), log(EFT / best EFT), transfer
  delay, queued tasks per slot, running tasks per slot.
- ``system`` ``[B, C + 2]``: workflows in the system per server, their mean age, the mean backlog
  of each server class.

Every time-derived quantity (backlog, expected finish, node states, queue counts) is what the
scheduler knows under the environment's information model (:mod:`scale_pl.sim.batched.belief`).

The raw fields (seconds, not normalised) are what heuristics read.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

NODE_STATES = ("done", "running", "queued", "ready", "waiting")


def task_feature_dim(num_types: int) -> int:
    return num_types + 5


def node_feature_dim(num_types: int) -> int:
    return num_types + len(NODE_STATES) + 3


def server_feature_dim(num_classes: int) -> int:
    return num_classes + 8


def system_feature_dim(num_classes: int) -> int:
    return num_classes + 2


@dataclass
class Observation:
    """One decision per environment.

    Attributes:
        task: ``[B, F_task]`` features of the task to place.
        nodes: ``[B, M, F_node]`` its workflow's tasks; ``node_mask`` ``[B, M]`` marks real ones.
        edges: ``[B, E, 2]`` (parent, child) indices into ``nodes``; ``edge_mask`` ``[B, E]``.
        current: ``[B]`` index of the task to place in ``nodes``.
        servers: ``[B, N, F_server]`` server features.
        system: ``[B, F_system]`` size-free system state (for the critic).
        mask: ``[B, N]`` feasible servers (can run the type; real server).
        est_finish: ``[B, N]`` believed finish time of the task there, seconds from now (inf if infeasible).
        backlog: ``[B, N]`` seconds until the server's earliest (believed) free slot.
        speed: ``[B, N]`` speed for the task's type.
        transfer: ``[B, N]`` input transfer delay if placed there.
        bottom_level: ``[B]`` expected seconds on the task's longest path to its workflow's end.
        slack: ``[B]`` largest bottom level among the workflow's undecided tasks minus the task's.
        done: ``[B]`` environments that have no decision left (their other fields are stale).
    """

    task: torch.Tensor | None
    nodes: torch.Tensor | None
    node_mask: torch.Tensor | None
    edges: torch.Tensor | None
    edge_mask: torch.Tensor | None
    current: torch.Tensor | None
    servers: torch.Tensor | None
    system: torch.Tensor | None
    mask: torch.Tensor
    est_finish: torch.Tensor
    backlog: torch.Tensor
    speed: torch.Tensor
    transfer: torch.Tensor
    bottom_level: torch.Tensor
    slack: torch.Tensor
    done: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.mask.shape[0]

    @property
    def num_servers(self) -> int:
        return self.mask.shape[1]

    def to(self, device: torch.device | str) -> Observation:
        return replace(self, **{f.name: _move(getattr(self, f.name), device) for f in fields(self)})

    def index(self, idx: torch.Tensor | slice) -> Observation:
        """The observation of a subset of environments."""
        return replace(self, **{f.name: _take(getattr(self, f.name), idx) for f in fields(self)})


def _move(x: torch.Tensor | None, device: torch.device | str) -> torch.Tensor | None:
    return None if x is None else x.to(device)


def _take(x: torch.Tensor | None, idx: torch.Tensor | slice) -> torch.Tensor | None:
    return None if x is None else x[idx]
