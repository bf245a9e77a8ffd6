"""The world as the scheduler believes it: a copy of the environment that search policies may step.

A what-if search (:class:`~scale_pl.baselines.lookahead.Lookahead`) steps copies of the
environment forward. Copies of the true state would hand it the actual work of every task, which
no scheduler knows. :func:`believed_env` instead copies what the scheduler knows and fills in the
rest from expected work, exactly as the belief of :mod:`~scale_pl.sim.batched.belief` does:

- ``expected``: every task not known to have finished takes its expected work; a running task
  ends at max(now, start + expected duration), queued tasks start and end where the belief
  chains them, and the servers' slots are free when the belief says;
- ``exact_queue``: the servers' queues are reported exactly (placed tasks keep their actual
  times); tasks not yet placed take their expected work.
"""

from __future__ import annotations

import torch

from scale_pl.sim.batched.belief import believed_slots
from scale_pl.sim.batched.env import SchedulingEnv

INF = float("inf")


def believed_env(env: SchedulingEnv) -> SchedulingEnv:
    """A copy of ``env`` (same rows, same current decisions) in which the unknown is replaced by the belief."""
    world = env.repeat_interleave(1)
    b = world.batch
    if env.information == "exact_queue":
        b.work = torch.where(world.decided, b.work, b.exp_work)
        return world
    now = torch.where(world.done, 0.0, world.clock)[:, None]
    # known to have finished: placed before now (nothing is reported at the placement instant), ended by now
    known = world.decided & (world.ready_lb < now) & (world.finish <= now)
    b.work = torch.where(known, b.work, b.exp_work)
    table = world.queue
    running, queued = table.states(now[:, 0])
    row_end = torch.full_like(table.known_finish, INF)
    world.slot_free = believed_slots(table, now[:, 0], b.slots * b.server_valid, row_end)
    pending = running | queued
    row_start = torch.where(queued, row_end, table.expected_end) - table.duration
    task = torch.where(pending, table.task.long(), world.sink).flatten(1)  # other rows write the sink onto itself
    for times, value in ((world.start, row_start), (world.finish, row_end)):
        times.scatter_(1, task, torch.where(pending.flatten(1), value.flatten(1), times.gather(1, task)))
    table.expected_end = torch.where(pending, row_end, table.expected_end)
    table.known_start = torch.where(queued, row_start, table.known_start)
    table.known_finish = torch.where(pending, row_end, table.known_finish)
    table.forget_counts()
    _refresh_readiness(world)
    world._select_next()
    world._per_server()
    return world


def _refresh_readiness(world: SchedulingEnv) -> None:
    """Ready times, workflow finishes and completions from the (believed) finishes of placed tasks."""
    b = world.batch
    bs, w1, m = b.shape
    arrival = b.arrival.repeat_interleave(m, dim=1)
    parent_finish = torch.where(world.decided.gather(1, b.edge_src), world.finish.gather(1, b.edge_src), -INF)
    ready_lb = torch.maximum(
        arrival, torch.full_like(arrival, -INF).scatter_reduce(1, b.child_idx, parent_finish, "amax")
    )
    # A task is ready now only if it already was: an unfinished parent ends strictly after now, even
    # when it is believed to end now (so the copy still decides the original's current task first).
    now = torch.where(world.done, 0.0, world.clock)[:, None]
    waiting = ~world.decided & ~(world.ready <= now)
    ready_lb = torch.where(waiting, torch.maximum(ready_lb, torch.nextafter(now, torch.full_like(now, INF))), ready_lb)
    world.ready_lb = torch.where(waiting, ready_lb, world.ready_lb)
    world.ready = torch.where(waiting & (world.parents_left == 0), ready_lb, world.ready)
    world.wf_min = world.ready.view(bs, w1, m).amin(-1)
    placed_finish = torch.where(world.decided & b.task_valid, world.finish, 0.0)
    world.wf_finish = placed_finish.view(bs, w1, m).amax(-1)
    done = b.wf_valid & (world.wf_left == 0)
    world.completion = torch.where(done, world.wf_finish, world.completion)
