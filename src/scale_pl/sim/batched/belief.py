"""What the scheduler believes about each server's queue: the information model of docs/model.md.

The batched environment keeps, per server, a table of the tasks placed on it that may still
matter (``[B, N, Q]``: actual start and finish, expected duration there, earliest start = ready
+ transfer, placement order). From it and the decision time ``now`` it derives, with no look at
the actual duration of any unfinished task:

- the scheduler knows a task's start (finish) once it is at or before ``now``, except for tasks
  it placed at this very instant, whose start event cannot have been reported yet (the table
  stores the time each event becomes known, so that every state is one comparison with ``now``);
- each running task (started by ``now``, not finished) is believed to end at
  ``max(now, start + expected duration)``; idle slots are free at ``now``;
- the queued tasks (placed, not started by ``now``), in placement order, each take the slot
  believed to free first: believed start = max(that slot's free time, ready + transfer), believed
  end = believed start + expected duration.

A table row is reused once its task is known to have finished (decision times never go back),
and the table doubles when a server would hold more unfinished tasks than it has rows, so no
task is ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

INF = float("inf")


COLUMNS = ("known_start", "known_finish", "expected_end", "duration", "earliest", "order", "task")


@dataclass
class QueueTable:
    """The unfinished tasks of every server, ``[B, N, Q]`` each (an empty row is known finished at -inf).

    Attributes:
        known_start, known_finish: the first decision time at which the scheduler knows the task
            started (finished): its actual start (finish), but strictly after its placement, since
            a task placed at this very instant has not reported anything yet. ``x <= now`` is the test.
        expected_end: actual start + expected duration (what a running task is believed to take).
        duration: expected duration on that server (latency + expected work / speed).
        earliest: ready time + transfer delay, the earliest the task can start.
        order: placement counter of the environment (FIFO order on the server).
        task: the task's flat index (what-if copies map rows back to tasks).
    """

    known_start: torch.Tensor
    known_finish: torch.Tensor
    expected_end: torch.Tensor
    duration: torch.Tensor
    earliest: torch.Tensor
    order: torch.Tensor
    task: torch.Tensor

    @classmethod
    def empty(cls, batch: int, servers: int, rows: int, dtype: torch.dtype, device: torch.device) -> QueueTable:
        table = cls(*(torch.empty(batch, servers, 0, dtype=dtype, device=device) for _ in COLUMNS[:-1]),
                    torch.empty(batch, servers, 0, dtype=torch.long, device=device))  # fmt: skip
        table.grow(rows)
        return table

    @property
    def rows(self) -> int:
        return self.known_start.shape[2]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in COLUMNS}

    def grow(self, rows: int) -> None:
        """Add ``rows`` empty rows to every server."""
        for name, t in self.tensors().items():
            pad_value = -INF if name in ("known_start", "known_finish") else 0.0
            pad = torch.full((*t.shape[:2], rows), pad_value, dtype=t.dtype, device=t.device)
            setattr(self, name, torch.cat((t, pad), dim=2))

    def insert(
        self,
        server: torch.Tensor,
        now: torch.Tensor,
        act: torch.Tensor,
        start: torch.Tensor,
        finish: torch.Tensor,
        duration: torch.Tensor,
        earliest: torch.Tensor,
        order: torch.Tensor,
        task: torch.Tensor,
    ) -> None:
        """Write the task placed at ``now`` on ``server`` ``[B]`` into a free row (active environments only)."""
        bs, n, q = self.known_start.shape
        flat = torch.arange(bs, device=server.device) * n + server
        free = self.known_finish.view(-1, q).index_select(0, flat) <= now[:, None]  # [B, Q]
        if not bool((free.any(1) | ~act).all()):
            self.grow(q)
            return self.insert(server, now, act, start, finish, duration, earliest, order, task)
        after = torch.nextafter(now, torch.full_like(now, INF))  # nothing is reported at the placement instant
        known = (torch.maximum(start, after), torch.maximum(finish, after))
        values = (*known, start + duration, duration, earliest, order, task)
        pos = flat * self.rows + free.int().argmax(1)
        for name, value in zip(COLUMNS, values, strict=True):
            column = getattr(self, name).view(-1)
            column.index_copy_(0, pos, torch.where(act, value.to(column.dtype), column.index_select(0, pos)))

    def states(self, now: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Running ``[B, N, Q]`` (known started by now, not finished) and queued (placed, not known started)."""
        n = now[:, None, None]
        started = self.known_start <= n  # empty rows too (they are known finished)
        return started & (self.known_finish > n), ~started


def believed_slots(
    table: QueueTable,
    now: torch.Tensor,
    slots: torch.Tensor,
    running: torch.Tensor,
    queued: torch.Tensor,
    row_end: torch.Tensor | None = None,
) -> torch.Tensor:
    """Believed free time of every slot ``[B, N, S]`` (S = the most slots; inf beyond a server's own).

    Args:
        table: the servers' unfinished tasks.
        now: ``[B]`` the decision time.
        slots: ``[B, N]`` slots per server (0 for padded servers).
        running, queued: the masks of :meth:`QueueTable.states`.
        row_end: if given, ``[B, N, Q]`` receives the believed end of every running and queued row.
    """
    s_max = int(slots.max())
    n = now[:, None, None]
    # At most one task runs per slot, so the running rows fill distinct slots: the k-th running row
    # of a server goes to slot k (a scatter; topk over the rows is much slower on CPU).
    rank = torch.where(running, running.cumsum(2) - 1, s_max)
    free = n.expand(-1, slots.shape[1], s_max + 1).clone()
    free.scatter_(2, rank, torch.maximum(n, table.expected_end))
    free = free[..., :s_max]
    free = torch.where(torch.arange(s_max, device=free.device) < slots[..., None], free, INF)
    if row_end is not None:
        row_end.copy_(torch.where(running, torch.maximum(n, table.expected_end), row_end))
    if bool(queued.any()):
        _chain_queued(table, queued, free, row_end)
    return free


def _chain_queued(table: QueueTable, queued: torch.Tensor, free: torch.Tensor, row_end: torch.Tensor | None) -> None:
    """Put each server's queued tasks, in placement order, on its earliest believed-free slot (in place).

    Only the servers that have queued tasks are touched; the loop runs over queue positions
    (the longest queue in the batch), not over servers or environments.
    """
    q, s = table.rows, free.shape[2]
    busy = queued.view(-1, q).any(1).nonzero().squeeze(1)  # flat (env, server) rows with a queue
    mask = queued.view(-1, q).index_select(0, busy)
    order = torch.where(mask, table.order.view(-1, q).index_select(0, busy), INF)
    order, pos = order.sort(dim=1)
    earliest = table.earliest.view(-1, q).index_select(0, busy).gather(1, pos)
    duration = table.duration.view(-1, q).index_select(0, busy).gather(1, pos)
    slot_free = free.view(-1, s).index_select(0, busy)
    ends = []
    for j in range(int(mask.sum(1).max())):
        first, slot = slot_free.min(1)
        end = torch.maximum(first, earliest[:, j]) + duration[:, j]
        end = torch.where(torch.isfinite(order[:, j]), end, first)
        slot_free.scatter_(1, slot[:, None], end[:, None])
        ends.append(end)
    free.view(-1, s).index_copy_(0, busy, slot_free)
    if row_end is not None:  # the j-th queued task of a server is row pos[:, j]
        chosen = row_end.view(-1, q).index_select(0, busy)
        chosen.scatter_(1, pos[:, : len(ends)], torch.stack(ends, dim=1))
        row_end.view(-1, q).index_copy_(0, busy, torch.where(mask, chosen, row_end.view(-1, q).index_select(0, busy)))
