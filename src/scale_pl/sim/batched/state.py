"""`EnvState`: the tensors of the batched environment's state, for the code that reads them.

:class:`~scale_pl.sim.batched.env.SchedulingEnv` owns and advances this state; the observation
(:mod:`~scale_pl.sim.batched.features`) and the episode metrics (:mod:`~scale_pl.sim.batched.metrics`)
only read it. Typing them against this class, not the environment, keeps the imports one way.

Shapes: ``B`` environments, ``T = (W + 1) x M`` flat task slots (``W`` workflows and an empty sink
row, ``M`` tasks per workflow), ``N`` servers, ``S`` slots per server.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.belief import QueueTable


class EnvState:
    """Attributes (all tensors on the batch's device):

    - per task ``[B, T]``: ``ready`` (ready time, inf until every parent is placed and after its
      own placement), ``ready_lb`` (latest placed parent's finish, or the arrival),
      ``parents_left``, ``server`` (-1 until placed), ``start``, ``finish`` (actual; inf until
      placed), ``bottom_level`` (expected seconds to the workflow's end);
    - per workflow ``[B, W+1]``: ``completion`` (inf until its last task is placed),
      ``wf_rem_work`` (expected work not yet placed), ``critical_path`` (on the fastest servers);
    - per environment ``[B]``: ``clock`` (the current decision's time), ``done``, ``busy``
      (busy slot-seconds placed), ``num_decisions``;
    - the current decision: ``cur_wf``, ``cur_task``, ``cur_type`` ``[B]``; per server ``[B, N]``
      ``cur_speed``, ``cur_mask`` (feasible), ``cur_transfer``, ``cur_free`` (believed earliest
      free slot), ``cur_start`` (believed start); ``cur_running``, ``cur_queued`` (how many tasks the
      scheduler knows to be running on, and queued at, each server);
    - ``server_static`` ``[B, N, C]`` class one-hot (0 on padded servers); ``node_static``
      ``[B, T, 3]`` per task: log-scaled expected work and bottom level, and its node-table code
      (float32, see :func:`~scale_pl.sim.batched.features.static_node_features`);
    - ``batch`` (the workloads), ``time_scale`` (seconds that map to 1 in log-scaled features),
      ``sink`` (the first flat index of the empty sink row, a harmless gather target).
    """

    batch: WorkloadBatch
    time_scale: float
    sink: int
    ready: torch.Tensor
    ready_lb: torch.Tensor
    parents_left: torch.Tensor
    server: torch.Tensor
    start: torch.Tensor
    finish: torch.Tensor
    bottom_level: torch.Tensor
    completion: torch.Tensor
    wf_rem_work: torch.Tensor
    critical_path: torch.Tensor
    clock: torch.Tensor
    done: torch.Tensor
    busy: torch.Tensor
    num_decisions: torch.Tensor
    cur_wf: torch.Tensor
    cur_task: torch.Tensor
    cur_type: torch.Tensor
    cur_speed: torch.Tensor
    cur_mask: torch.Tensor
    cur_transfer: torch.Tensor
    cur_free: torch.Tensor
    cur_start: torch.Tensor
    cur_running: torch.Tensor
    cur_queued: torch.Tensor
    server_static: torch.Tensor
    node_static: torch.Tensor

    def response_times(self) -> torch.Tensor:
        """``[B, W+1]`` response time per workflow (nan for padding and unfinished workflows)."""
        rt = self.completion - self.batch.arrival
        return torch.where(self.batch.wf_valid & torch.isfinite(self.completion), rt, float("nan"))


@dataclass
class EnvRows:
    """A copy of ``k`` environments' state (:meth:`SchedulingEnv.snapshot`), to restore later.

    Attributes:
        state: state tensor name -> its ``k`` rows.
        queue: queue-table column -> ``[k, N, Q]`` (``Q`` may differ from the environment's).
        batch: the ``k`` workloads.
    """

    state: dict[str, torch.Tensor]
    queue: dict[str, torch.Tensor]
    batch: WorkloadBatch

    @property
    def size(self) -> int:
        return self.batch.arrival.shape[0]

    def select(self, idx: torch.Tensor) -> EnvRows:
        """Rows ``idx`` (may repeat: many environments restart from one saved state)."""
        return EnvRows(
            state={k: v.index_select(0, idx) for k, v in self.state.items()},
            queue={k: v.index_select(0, idx) for k, v in self.queue.items()},
            batch=self.batch.select(idx),
        )

    def queue_with_rows(self, rows: int) -> dict[str, torch.Tensor]:
        """The queue columns padded with empty rows up to ``rows`` (never truncated)."""
        have = self.queue["known_start"].shape[2]
        if have >= rows:
            return self.queue
        table = QueueTable(**self.queue)
        table.grow(rows - have)
        return table.tensors()

    @staticmethod
    def cat(parts: list[EnvRows]) -> EnvRows:
        """The rows of ``parts`` one after the other (queue tables padded to the largest)."""
        rows = max(p.queue["known_start"].shape[2] for p in parts)
        queues = [p.queue_with_rows(rows) for p in parts]
        batch = parts[0].batch
        return EnvRows(
            state={k: torch.cat([p.state[k] for p in parts]) for k in parts[0].state},
            queue={k: torch.cat([q[k] for q in queues]) for k in queues[0]},
            batch=type(batch).cat([p.batch for p in parts]),
        )
