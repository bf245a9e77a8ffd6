"""Each server's belief, kept up to date on its own events instead of rebuilt for all N per decision.

The belief of a server at time ``now`` (docs/model.md, "What the scheduler knows"; the oracle is
:func:`scale_pl.sim.reference.view.server_view`): its running tasks are believed to end at
``max(now, start + expected duration)``, its idle slots are free at ``now``, and its queued tasks
take, in placement order, the slot believed to free first. The believed free time is the earliest
slot after that.

Between two events of a server its belief is a function of ``now`` alone, and a simple one: every
slot value is either a constant or ``now`` plus a constant, and stays so until ``now`` crosses one
of a few thresholds (a running task's believed end, a queued task's earliest start). One pass
over the server's tasks at time ``t0`` gives ``free(now) = offset + slope * now`` (slope 0 or 1)
and the time ``until`` up to which that formula holds. A decision then reads every server's free
time as one array expression and recomputes only the servers whose state changed: a placement,
a reported start or finish, or the clock passing ``until``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INF = math.inf


@dataclass(slots=True)
class QueuedTask:
    """A task placed on a server: what the scheduler was told and what it knows of it.

    ``start`` and ``finish`` are ``inf`` until reported; a task reported started at the very
    instant it was placed counts as queued at that instant (as in the simulators).
    """

    flow: int
    task: int
    duration: float  # expected: latency + expected work / speed
    earliest: float  # ready + transfer
    placed: float  # the decision time
    start: float = INF
    finish: float = INF


def _pick_min(values: list[tuple[float, int]], now: float) -> tuple[int, float]:
    """Index of the slot believed to free first (values ``(offset, slope)``) and the latest ``now``
    up to which it stays first. On ties the constant wins: it stays first as ``now`` grows."""
    best, best_value = 0, INF
    for i, (offset, slope) in enumerate(values):
        value = offset + slope * now
        if value < best_value or (value == best_value and slope < values[best][1]):
            best, best_value = i, value
    until = INF
    offset, slope = values[best]
    if slope:  # now + offset stays below each constant c while now <= c - offset
        for other, other_slope in values:
            if not other_slope:
                until = min(until, other - offset)
    return best, until


def server_belief(tasks: list[QueuedTask], slots: int, now: float) -> tuple[list[QueuedTask], tuple[float, ...]]:
    """One server's belief at ``now`` from its tasks in placement order.

    Returns the tasks still open (finished ones dropped: decision times never go back) and
    ``(offset, slope, until, queued, running)``: the believed free time is ``offset + slope * t``
    for every ``t`` in ``[now, until]``, and the queue counts hold over the same interval.
    """
    kept: list[QueuedTask] = []
    ends: list[float] = []  # believed ends of the running tasks still ahead of now
    queued: list[QueuedTask] = []
    until, overran = INF, 0
    for p in tasks:
        if p.placed < now and p.start <= now:
            if p.finish <= now:
                continue
            end = p.start + p.duration
            if end > now:
                ends.append(end)
            else:  # overran its expected end: believed to end now
                overran += 1
        else:
            queued.append(p)
            if p.start <= now:  # started at its placement instant: running as soon as the clock moves
                until = now
        kept.append(p)
    running = len(ends) + overran
    if not queued:  # the earliest slot: now if one is idle or overran, else the first believed end
        if running < slots or overran:
            return kept, (0.0, 1.0, until, 0.0, float(running))
        return kept, (min(ends), 0.0, min(ends), 0.0, float(running))
    if ends:  # a believed end turns into "now" once the clock passes it
        until = min(until, min(ends))
    values = [(e, 0) for e in ends] + [(0.0, 1)] * (overran + max(slots - running, 0))
    for p in queued:  # FIFO: each takes the slot believed to free first
        i, valid = _pick_min(values, now)
        until = min(until, valid)
        offset, slope = values[i]
        if not slope:
            values[i] = (max(offset, p.earliest) + p.duration, 0)
        elif offset + now >= p.earliest:  # the slot's time wins, and keeps winning as the clock moves
            values[i] = (offset + p.duration, 1)
        else:  # the earliest start wins while now + offset <= earliest
            until = min(until, p.earliest - offset)
            values[i] = (p.earliest + p.duration, 0)
    i, valid = _pick_min(values, now)
    offset, slope = values[i]
    return kept, (offset, float(slope), min(until, valid), float(len(queued)), float(running))


class ServerBeliefs:
    """The belief of every server, recomputed only where something changed.

    Args:
        slots: ``[N]`` slots of each server.

    Attributes:
        tasks: each server's open tasks, in placement order.
        queued, running: ``[N]`` float counts as of the last :meth:`free` call.
    """

    def __init__(self, slots: np.ndarray) -> None:
        n = len(slots)
        self.slots = [int(s) for s in slots]
        self.tasks: list[list[QueuedTask]] = [[] for _ in range(n)]
        self.offset = np.zeros(n)  # an empty server is free now: 0 + 1 * now
        self.slope = np.ones(n)
        self.until = np.full(n, INF)
        self.queued = np.zeros(n)
        self.running = np.zeros(n)
        self.dirty: set[int] = set()

    def add(self, n: int, task: QueuedTask) -> None:
        """A task was placed on server ``n``."""
        self.tasks[n].append(task)
        self.dirty.add(n)

    def touch(self, n: int) -> None:
        """Something was reported about a task of server ``n`` (a start or a finish)."""
        self.dirty.add(n)

    def free(self, now: float) -> np.ndarray:
        """``[N]`` believed free time of every server at ``now`` (never earlier than the last call)."""
        stale = self.dirty.union(np.flatnonzero(self.until < now).tolist())
        for n in stale:
            self.tasks[n], row = server_belief(self.tasks[n], self.slots[n], now)
            self.offset[n], self.slope[n], self.until[n], self.queued[n], self.running[n] = row
        self.dirty.clear()
        return self.offset + self.slope * now
