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
and the table grows by half when a server would hold more unfinished tasks than it has rows, so
no task is ever dropped.

Reading the whole table at every decision would cost more than the rest of a step, so the table
also keeps each server's running and queued counts and the next time one of its rows changes
state. Since decision times never go back, a server is recounted only once that time has come,
and only the servers with a queue or no idle slot need the slot-by-slot belief; every other
server is free now.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scale_pl.sim.batched.indexing import positions

INF = float("inf")


COLUMNS = ("known_start", "known_finish", "expected_end", "duration", "earliest", "order", "task")


@dataclass
class QueueTable:
    """The unfinished tasks of every server, ``[B, N, Q]`` each (an empty row is known finished at -inf),
    and per server ``[B, N]`` the counts the scheduler knows.

    Attributes:
        known_start, known_finish: the first decision time at which the scheduler knows the task
            started (finished): its actual start (finish), but strictly after its placement, since
            a task placed at this very instant has not reported anything yet. ``x <= now`` is the test.
        expected_end: actual start + expected duration (what a running task is believed to take).
        duration: expected duration on that server (latency + expected work / speed).
        earliest: ready time + transfer delay, the earliest the task can start.
        order: placement counter of the environment (FIFO order on the server), int32.
        task: the task's flat index (what-if copies map rows back to tasks), int32.
        running, queued: ``[B, N]`` rows known running (started, not finished) and queued (placed, not
            known started) at the last :meth:`refresh`; exact until ``next_change``.
        next_change: ``[B, N]`` the earliest known start or finish still ahead at the last refresh
            (inf: none; -inf: recount at the next refresh).
    """

    known_start: torch.Tensor
    known_finish: torch.Tensor
    expected_end: torch.Tensor
    duration: torch.Tensor
    earliest: torch.Tensor
    order: torch.Tensor
    task: torch.Tensor
    running: torch.Tensor
    queued: torch.Tensor
    next_change: torch.Tensor

    @classmethod
    def empty(cls, batch: int, servers: int, rows: int, dtype: torch.dtype, device: torch.device) -> QueueTable:
        # times in the simulator's dtype; the counter and the task index in 32 bits (the table is the
        # largest part of the state at large N)
        columns = [torch.empty(batch, servers, 0, dtype=dtype, device=device) for _ in COLUMNS[:-2]]
        columns += [torch.empty(batch, servers, 0, dtype=torch.int32, device=device) for _ in COLUMNS[-2:]]
        counts = [torch.zeros(batch, servers, dtype=torch.long, device=device) for _ in range(2)]
        table = cls(*columns, *counts, torch.full((batch, servers), INF, dtype=dtype, device=device))
        table.grow(rows)
        return table

    @property
    def rows(self) -> int:
        return self.known_start.shape[2]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor of the table: the ``[B, N, Q]`` columns and the ``[B, N]`` counts."""
        return {name: getattr(self, name) for name in (*COLUMNS, "running", "queued", "next_change")}

    def grow(self, rows: int) -> None:
        """Add ``rows`` empty rows to every server."""
        for name in COLUMNS:
            t = getattr(self, name)
            pad_value = -INF if name in ("known_start", "known_finish") else 0.0
            pad = torch.full((*t.shape[:2], rows), pad_value, dtype=t.dtype, device=t.device)
            setattr(self, name, torch.cat((t, pad), dim=2))

    def column_rows(self, name: str, rows: torch.Tensor) -> torch.Tensor:
        """Column ``name`` of the flat (environment, server) rows ``rows`` ``[k]``: ``[k, Q]``."""
        return getattr(self, name).view(-1, self.rows).index_select(0, rows)

    def insert(
        self,
        at_server: torch.Tensor,
        now: torch.Tensor,
        act: torch.Tensor | None,
        start: torch.Tensor,
        finish: torch.Tensor,
        duration: torch.Tensor,
        earliest: torch.Tensor,
        order: torch.Tensor,
        task: torch.Tensor,
    ) -> None:
        """Write the task placed at ``now`` into a free row of its server, for the environments ``act``
        ``[B]`` (None: all of them).

        ``at_server`` ``[B]`` is the flat (environment, server) index ``b * N + server``.
        """
        # the row known to finish first is free if any is (which free row a task takes changes nothing)
        first_known, row = self.column_rows("known_finish", at_server).min(1)
        has_room = first_known <= now
        if not bool((has_room if act is None else has_room | ~act).all()):
            self.grow(max(1, self.rows // 2))  # by half, not double: at large N the table dominates memory
            return self.insert(at_server, now, act, start, finish, duration, earliest, order, task)
        after = torch.nextafter(now, torch.full_like(now, INF))  # nothing is reported at the placement instant
        known_start = torch.maximum(start, after)
        values = (known_start, torch.maximum(finish, after), start + duration, duration, earliest, order, task)
        pos = at_server * self.rows + row
        for name, value in zip(COLUMNS, values, strict=True):
            column = getattr(self, name).view(-1)
            value = value.to(column.dtype)
            column.index_copy_(0, pos, value if act is None else torch.where(act, value, column.index_select(0, pos)))
        # the new row is queued until it is known started, which may be the server's next change
        change = self.next_change.view(-1)
        first = torch.minimum(change.index_select(0, at_server), known_start)
        if act is None:
            self.queued.view(-1).index_add_(0, at_server, torch.ones_like(at_server))
            change.index_copy_(0, at_server, first)
        else:
            self.queued.view(-1).index_add_(0, at_server, act.long())
            change.index_copy_(0, at_server, torch.where(act, first, change.index_select(0, at_server)))

    def states(self, now: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Running ``[B, N, Q]`` (known started by now, not finished) and queued (placed, not known started)."""
        n = now[:, None, None]
        queued = self.known_start > n  # empty rows are known finished, hence never queued
        return (self.known_finish > n) ^ queued, queued  # a row is known started no later than finished

    def refresh(self, now: torch.Tensor, active: torch.Tensor) -> None:
        """Bring ``running``, ``queued`` and ``next_change`` up to ``now`` ``[B]`` for the ``active`` environments.

        ``now`` must not go back between refreshes of an environment (decision times never do).
        Only the servers whose next change has come are recounted.
        """
        stale = ((self.next_change <= now[:, None]) & active[:, None]).view(-1).nonzero().squeeze(1)
        if stale.numel() == 0:
            return
        at = now.index_select(0, stale // self.running.shape[1])[:, None]
        known_start = self.column_rows("known_start", stale)
        known_finish = self.column_rows("known_finish", stale)
        queued, unfinished = known_start > at, known_finish > at
        n_queued = queued.sum(1)
        self.queued.view(-1).index_copy_(0, stale, n_queued)
        self.running.view(-1).index_copy_(0, stale, unfinished.sum(1) - n_queued)
        ahead = torch.where(queued, known_start, torch.where(unfinished, known_finish, INF))
        self.next_change.view(-1).index_copy_(0, stale, ahead.amin(1))

    def forget_counts(self) -> None:
        """The columns were edited: recount every server at the next :meth:`refresh`."""
        self.next_change = torch.full_like(self.next_change, -INF)


def believed_free(
    table: QueueTable, now: torch.Tensor, slots: torch.Tensor, active: torch.Tensor, s_max: int
) -> torch.Tensor:
    """Each server's earliest believed-free slot ``[B, N]``; refreshes the table's counts to ``now``.

    The same belief as ``believed_slots(...).amin(-1)``, on far less data: a server with no queued
    task and an idle slot is free now; only the others get the slot-by-slot belief.

    Args:
        table: the servers' unfinished tasks.
        now: ``[B]`` the decision time.
        slots: ``[B, N]`` slots per server (0 for padded servers, which are never free: inf).
        active: ``[B]`` the environments to bring up to date (finished ones keep their last counts
            and are believed free now).
        s_max: at least the most slots of any server.
    """
    table.refresh(now, active)
    real = slots > 0
    free = torch.where(real, now[:, None], INF)
    need = (table.queued > 0) | (table.running >= slots)
    busy = (need & real & active[:, None]).view(-1).nonzero().squeeze(1)  # flat (env, server) rows
    if busy.numel():
        rows_now = now.index_select(0, busy // slots.shape[1])
        slot_free = _believed_rows(table, busy, rows_now, slots.view(-1).index_select(0, busy), s_max)
        free.view(-1).index_copy_(0, busy, slot_free.amin(1))
    return free


def believed_slots(
    table: QueueTable, now: torch.Tensor, slots: torch.Tensor, row_end: torch.Tensor | None = None
) -> torch.Tensor:
    """Believed free time of every slot ``[B, N, S]`` (S = the most slots; inf beyond a server's own).

    Args:
        table: the servers' unfinished tasks.
        now: ``[B]`` the decision time.
        slots: ``[B, N]`` slots per server (0 for padded servers).
        row_end: if given, ``[B, N, Q]`` receives the believed end of every running and queued row.
    """
    bs, n_servers = slots.shape
    every = torch.arange(bs * n_servers, device=now.device)
    ends = None if row_end is None else row_end.view(-1, table.rows)
    free = _believed_rows(table, every, now.repeat_interleave(n_servers), slots.view(-1), int(slots.max()), ends)
    return free.view(bs, n_servers, -1)


def _believed_rows(
    table: QueueTable,
    rows: torch.Tensor,
    now: torch.Tensor,
    slots: torch.Tensor,
    s_max: int,
    row_end: torch.Tensor | None = None,
) -> torch.Tensor:
    """Believed free time of every slot ``[k, S]`` of the flat (environment, server) rows ``rows`` ``[k]``.

    ``now`` and ``slots`` are those rows' decision times and slot counts ``[k]``; ``row_end``
    ``[B * N, Q]``, if given, receives the believed end of their running and queued table rows.
    """
    n = now[:, None]
    queued = table.column_rows("known_start", rows) > n
    running = (table.column_rows("known_finish", rows) > n) ^ queued
    end = torch.maximum(n, table.column_rows("expected_end", rows))
    # At most one task runs per slot, so the running rows fill distinct slots: the k-th running row
    # of a server goes to slot k (a scatter; topk over the rows is much slower on CPU).
    rank = torch.where(running, running.cumsum(1) - 1, s_max)
    free = n.expand(-1, s_max + 1).clone()
    free.scatter_(1, rank, end)
    free = torch.where(torch.arange(s_max, device=n.device) < slots[:, None], free[:, :s_max], INF)
    if row_end is not None:
        row_end.index_copy_(0, rows, torch.where(running, end, row_end.index_select(0, rows)))
    if bool(queued.any()):
        _chain_queued(table, rows, queued, free, row_end)
    return free


def _chain_queued(
    table: QueueTable, rows: torch.Tensor, queued: torch.Tensor, free: torch.Tensor, row_end: torch.Tensor | None
) -> None:
    """Put the queued tasks of the rows ``rows`` ``[k]``, in placement order, on their earliest believed-free
    slot (``free`` ``[k, S]``, in place).

    The loop runs over queue positions, not over servers or environments. Rows are taken longest
    queue first, so that the j-th pass works on a prefix: the rows with more than j queued tasks
    (queues are long on few servers).
    """
    count, by_length = queued.sum(1).sort(descending=True)
    longer = (count[:, None] > positions(int(count[0]), count.device)).sum(0).tolist()  # rows past position j
    rows, queued = rows.index_select(0, by_length), queued.index_select(0, by_length)
    order = torch.where(queued, table.column_rows("order", rows), torch.iinfo(torch.int32).max)
    pos = order.sort(dim=1).indices  # the queued rows first, in placement order
    earliest = table.column_rows("earliest", rows).gather(1, pos).t()  # [Q, k]: position j of every row
    duration = table.column_rows("duration", rows).gather(1, pos).t()
    slot_free = free.index_select(0, by_length)
    ends = []
    for j, k in enumerate(longer):
        part = slot_free[:k]  # a view: the rows that have a j-th queued task
        first, slot = part.min(1)
        end = torch.maximum(first, earliest[j, :k]) + duration[j, :k]
        part.scatter_(1, slot[:, None], end[:, None])
        ends.append(end)
    free.index_copy_(0, by_length, slot_free)
    if row_end is not None:  # the j-th queued task of a row is table row pos[:, j]
        known = torch.full((len(ends), rows.shape[0]), INF, dtype=free.dtype, device=free.device)
        for j, end in enumerate(ends):
            known[j, : end.shape[0]] = end
        chosen = row_end.index_select(0, rows)
        chosen.scatter_(1, pos[:, : len(ends)], known.t())
        row_end.index_copy_(0, rows, torch.where(queued, chosen, row_end.index_select(0, rows)))
