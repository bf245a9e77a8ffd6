"""`SchedulingEnv`: the event semantics of docs/model.md, batched over B environments in torch.

Every environment holds one workload; a step places one ready task per environment. Ready
tasks are decided in order of (ready time, workflow arrival, task index); because workflows are
stored in arrival order and tasks by index, that order is simply the lowest flat index among
the tasks with the smallest ready time. The scan is two-level (the min per workflow is kept
incrementally, so a step touches one workflow's row and the ``[B, W]`` row minima), and no
step loops in Python over environments or tasks.
"""

from __future__ import annotations

from dataclasses import fields

import torch

from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.belief import QueueTable, believed_free
from scale_pl.sim.batched.features import observe, server_classes, static_node_features
from scale_pl.sim.batched.indexing import column_of_rows, csr_rows, flat_index, rows, take_rows
from scale_pl.sim.batched.lower_bound import longest_path
from scale_pl.sim.batched.metrics import episode_metrics
from scale_pl.sim.batched.state import EnvRows, EnvState
from scale_pl.sim.system.observation import Observation

INF = float("inf")
INFORMATION_MODES = ("expected", "exact_queue")


class SchedulingEnv(EnvState):
    """B independent scheduling environments stepped together.

    Args:
        batch: the workloads and clusters; also settable later through :meth:`reset`.
        reward_scale: the return times ``reward_scale`` is minus the sum of response times.
        time_scale: seconds that map to 1 in the log-scaled time features.
        information: what the scheduler knows of the servers' queues: ``"expected"`` (the default:
            unfinished tasks are believed to take their expected duration, see :mod:`~scale_pl.sim.batched.belief`)
            or ``"exact_queue"`` (servers report their queues' actual remaining time; optimistic,
            for comparison only).
        queue_rows: initial rows per server of the table of unfinished tasks (it grows as needed).
        check_actions: raise if an active environment is given an infeasible server.
    """

    def __init__(
        self,
        batch: WorkloadBatch | None = None,
        reward_scale: float = 100.0,
        time_scale: float = 2.0,
        information: str = "expected",
        queue_rows: int = 8,
        check_actions: bool = True,
    ) -> None:
        if reward_scale <= 0 or time_scale <= 0 or queue_rows < 1:
            raise ValueError("reward_scale, time_scale and queue_rows must be positive")
        if information not in INFORMATION_MODES:
            raise ValueError(f"information must be one of {', '.join(INFORMATION_MODES)}, got {information!r}")
        self.reward_scale = reward_scale
        self.time_scale = time_scale
        self.information = information
        self.queue_rows = queue_rows
        self.check_actions = check_actions
        self.batch: WorkloadBatch | None = None
        if batch is not None:
            self.reset(batch)

    # -- state -----------------------------------------------------------------------------------
    def reset(self, batch: WorkloadBatch, num_slots: int | None = None) -> Observation:
        """Start every environment on ``batch`` (all tensors of the state live on its device).

        ``num_slots`` pads the slot dimension (default: the batch's most slots per server).
        """
        self.batch = batch
        bs, w1, m = batch.shape
        dev, dt = batch.arrival.device, batch.exp_work.dtype
        self.sink = (w1 - 1) * m  # the first task of the empty sink workflow row
        self.b_idx = torch.arange(bs, device=dev)
        self.n_idx = torch.arange(batch.speed.shape[1], device=dev)
        wf_of_task = torch.arange(w1 * m, device=dev) // m
        arrival_task = batch.arrival[:, wf_of_task]  # [B, T]

        roots = batch.task_valid & (batch.n_parents == 0)
        self.ready = torch.where(roots, arrival_task, torch.full_like(arrival_task, INF))
        self.ready_lb = arrival_task.clone()
        self.parents_left = batch.n_parents.clone()
        self.decided = ~batch.task_valid
        self.server = torch.full_like(batch.type, -1)
        self.start = torch.full_like(arrival_task, INF)
        self.finish = torch.full_like(arrival_task, INF)
        self.wf_min = self.ready.view(bs, w1, m).amin(-1)
        self.wf_left = batch.task_valid.view(bs, w1, m).sum(-1)
        self.wf_finish = torch.zeros(bs, w1, dtype=dt, device=dev)
        self.completion = torch.where(batch.wf_valid, torch.full_like(self.wf_finish, INF), self.wf_finish)
        self.wf_rem_work = (batch.exp_work * batch.task_valid).view(bs, w1, m).sum(-1)

        s = num_slots or int(batch.slots.max())
        slot_ids = torch.arange(s, device=dev)
        self.slot_free = torch.where(slot_ids < batch.slots[..., None], 0.0, INF).to(dt)  # [B, N, S]
        self.busy = torch.zeros(bs, dtype=dt, device=dev)
        self.integral = torch.zeros(bs, dtype=dt, device=dev)
        self.num_decisions = torch.zeros(bs, dtype=torch.long, device=dev)

        # Static per-task quantities: bottom level (expected seconds on a reference server to the
        # workflow's end) and the per-workflow critical path on the fastest feasible servers.
        lat_task = batch.latency.gather(1, batch.type)
        self.bottom_level = longest_path(batch, (lat_task + batch.exp_work) * batch.task_valid)
        fastest = batch.speed.amax(1).gather(1, batch.type).clamp_min(1e-30)
        cp_task = longest_path(batch, (lat_task + batch.work / fastest) * batch.task_valid)
        self.critical_path = (cp_task * batch.task_valid).view(bs, w1, m).amax(-1)  # [B, W+1]

        self.server_static = server_classes(self)
        self.node_static = static_node_features(self)
        # allocated last, once the [B, T] temporaries are gone: they made the peak of a large reset
        del arrival_task, lat_task, fastest, cp_task
        self.queue = QueueTable.empty(bs, batch.speed.shape[1], max(self.queue_rows, s), dt, dev)

        self._select_next()
        self._per_server()
        return self.observe()

    def _settings(self) -> dict:
        return {"reward_scale": self.reward_scale, "time_scale": self.time_scale, "information": self.information,
                "queue_rows": self.queue_rows, "check_actions": self.check_actions}  # fmt: skip

    def reset_envs(self, idx: torch.Tensor, replacement: WorkloadBatch) -> None:
        """Restart environments ``idx`` ``[k]`` on the ``k`` rows of ``replacement``.

        ``replacement`` must have the current batch's padded sizes (select it from the same pool);
        the other environments are untouched. Call :meth:`observe` afterwards for fresh observations.
        """
        if idx.numel() == 0:
            return
        fresh = SchedulingEnv(**self._settings())
        fresh.reset(replacement, num_slots=self.slot_free.shape[2])
        self.restore(idx, fresh.snapshot())

    def snapshot(self, idx: torch.Tensor | None = None) -> EnvRows:
        """The state of environments ``idx`` ``[k]`` (default: all), copied, for :meth:`restore`."""
        take = (lambda t: t.clone()) if idx is None else (lambda t: t.index_select(0, idx))
        return EnvRows(
            state={name: take(getattr(self, name)) for name in self._state_names()},
            queue={name: take(t) for name, t in self.queue.tensors().items()},
            batch=self.batch.select(idx) if idx is not None else self.batch.select(self.b_idx),
        )

    def restore(self, idx: torch.Tensor, saved: EnvRows) -> None:
        """Put environments ``idx`` ``[k]`` back in the state ``saved`` (``k`` rows, same padding).

        The rest of the batch is untouched. The current decision's per-server quantities are
        rebuilt as new tensors, so observations taken earlier keep their values.
        """
        if idx.numel() == 0:
            return
        b = saved.batch
        if b.shape[1:] != self.batch.shape[1:] or b.speed.shape[1:] != self.batch.speed.shape[1:]:
            raise ValueError("restore: the saved environments are padded differently from the batch")
        queue = saved.queue_with_rows(self.queue.rows)
        if queue["known_start"].shape[2] > self.queue.rows:
            self.queue.grow(queue["known_start"].shape[2] - self.queue.rows)
        for name, value in saved.state.items():
            getattr(self, name)[idx] = value
        for name, value in queue.items():
            getattr(self.queue, name)[idx] = value
        for f in fields(WorkloadBatch):
            value = getattr(b, f.name)
            if isinstance(value, torch.Tensor):
                getattr(self.batch, f.name)[idx] = value
        self._select_next()
        self._per_server()

    def _state_names(self) -> list[str]:
        """The state tensors that :meth:`snapshot` saves: everything but indices and the current
        decision's quantities, which :meth:`_select_next` and :meth:`_per_server` derive."""
        derived = {"b_idx", "n_idx", "clock", "done"}
        return [
            name
            for name, value in vars(self).items()
            if isinstance(value, torch.Tensor) and name not in derived and not name.startswith("cur_")
        ]

    def repeat_interleave(self, copies: int) -> SchedulingEnv:
        """A new environment of ``B x copies`` rows: row ``b * copies + j`` is a copy of row ``b``.

        What-if search (:class:`~scale_pl.baselines.lookahead.Lookahead`) steps copies independently.
        """
        clone = SchedulingEnv(**self._settings())
        rows_of = torch.arange(self.b_idx.numel(), device=self.b_idx.device).repeat_interleave(copies)
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor) and name not in ("b_idx", "n_idx"):
                setattr(clone, name, value.index_select(0, rows_of))
        clone.queue = QueueTable(**{k: v.index_select(0, rows_of) for k, v in self.queue.tensors().items()})
        clone.batch = self.batch.select(rows_of)
        clone.b_idx = torch.arange(rows_of.numel(), device=rows_of.device)
        clone.n_idx, clone.sink = self.n_idx, self.sink
        return clone

    # -- stepping --------------------------------------------------------------------------------
    def step(self, action: torch.Tensor) -> tuple[Observation, torch.Tensor, torch.Tensor]:
        """Place each environment's current task on server ``action`` [B].

        Returns the next observation, the reward [B] and done [B]. Finished environments ignore
        their action and get reward 0.
        """
        b = self.batch
        act = ~self.done
        action = action.to(self.n_idx.device).long()
        if self.check_actions and not bool((rows(self.cur_mask, action) | ~act).all()):
            bad = int((~rows(self.cur_mask, action) & act).nonzero()[0, 0])
            raise ValueError(f"environment {bad}: server {int(action[bad])} cannot run its current task")
        f = self.cur_task
        at_server = flat_index(action, self.n_idx.numel())  # (env, server) as one index
        at_task = flat_index(f, self.ready.shape[1])
        transfer = take_rows(self.cur_transfer, at_server)
        # the chosen server's earliest actually free slot (the event semantics; not what the scheduler knows)
        slot_free = take_rows(self.slot_free, at_server)  # [B, S]
        actual_free, slot = slot_free.min(1)
        start = torch.maximum(self.clock + transfer, actual_free)
        speed = take_rows(self.cur_speed, at_server).clamp_min(1e-30)
        latency = rows(b.latency, self.cur_type)
        finish = start + latency + take_rows(b.work, at_task) / speed

        every = bool(act.all())  # then nothing needs the old values kept (the usual case)

        def put(t: torch.Tensor, value: torch.Tensor) -> None:
            flat = t.view(-1)
            flat.index_copy_(0, at_task, value if every else torch.where(act, value, flat.index_select(0, at_task)))

        put(self.server, action)
        put(self.start, start)
        put(self.finish, finish)
        put(self.ready, torch.full_like(start, INF))
        put(self.decided, act)
        slot_free.scatter_(1, slot[:, None], torch.where(act, finish, actual_free)[:, None])
        self.slot_free.view(-1, slot_free.shape[1]).index_copy_(0, at_server, slot_free)
        self.queue.insert(
            at_server, self.clock, None if every else act, start=start, finish=finish,
            duration=latency + take_rows(b.exp_work, at_task) / speed, earliest=self.clock + transfer,
            order=self.num_decisions.to(start.dtype), task=f,
        )  # fmt: skip
        self.busy += torch.where(act, finish - start, 0.0)
        self.num_decisions += act.long()

        self._release_children(at_task, finish, act)
        self._close_workflow(at_task, finish, act)
        self._select_next()
        reward = self._reward(act)
        self._per_server()
        return self.observe(), reward, self.done

    def _release_children(self, at_task: torch.Tensor, finish: torch.Tensor, act: torch.Tensor) -> None:
        """Count the placed task (flat index ``at_task``) off each child's parents; a child whose
        parents are all placed becomes ready."""
        b = self.batch
        ch, chm = csr_rows(b.child_ptr, b.n_children, b.child_idx, at_task, b.max_children)  # [B, Q]
        # padded entries name the placed task itself (not its own child): they write back what they read
        ch = torch.where(chm, ch, self.cur_task[:, None])
        chm &= act[:, None]
        left = self.parents_left.gather(1, ch) - chm.view(torch.uint8)
        self.parents_left.scatter_(1, ch, left)
        old_lb = self.ready_lb.gather(1, ch)
        lb = torch.where(chm, torch.maximum(old_lb, finish[:, None]), old_lb)
        self.ready_lb.scatter_(1, ch, lb)
        # every other entry's ready time is inf: a child with a parent left, the placed task itself
        # (the padding), and every task of a finished environment (finished: no task is ready)
        self.ready.scatter_(1, ch, torch.where(chm & (left == 0), lb, INF))

    def _close_workflow(self, at_task: torch.Tensor, finish: torch.Tensor, act: torch.Tensor) -> None:
        """The placed task's workflow: its next ready time, tasks left, finish, remaining work, completion."""
        bs, w1, m = self.batch.shape
        at_wf = flat_index(self.cur_wf, w1)

        def get(t: torch.Tensor) -> torch.Tensor:
            return t.view(-1).index_select(0, at_wf)

        def put(t: torch.Tensor, value: torch.Tensor) -> None:
            t.view(-1).index_copy_(0, at_wf, value)

        put(self.wf_min, take_rows(self.ready.view(bs, w1, m), at_wf).amin(-1))
        left = get(self.wf_left) - act.long()
        put(self.wf_left, left)
        wf_finish = get(self.wf_finish)
        wf_finish = torch.where(act, torch.maximum(wf_finish, finish), wf_finish)
        put(self.wf_finish, wf_finish)
        placed_work = torch.where(act, take_rows(self.batch.exp_work, at_task), 0.0)
        put(self.wf_rem_work, get(self.wf_rem_work) - placed_work)
        put(self.completion, torch.where(act & (left == 0), wf_finish, get(self.completion)))

    def _select_next(self) -> None:
        """The next task per environment: smallest ready time, then earliest workflow, then lowest index."""
        bs, w1, m = self.batch.shape
        self.clock, w = self.wf_min.min(1)  # min returns the first (earliest) workflow among ties
        t = take_rows(self.ready.view(bs, w1, m), flat_index(w, w1)).argmin(-1)
        self.cur_wf, self.cur_task = w, w * m + t
        self.done = torch.isinf(self.clock)
        self.cur_type = rows(self.batch.type, self.cur_task)

    def _integral_until(self, t: torch.Tensor) -> torch.Tensor:
        """Integral over [0, t] of the number of workflows in the system, ``[B]`` (t may be inf)."""
        arr = self.batch.arrival
        inside = torch.minimum(self.completion, t[:, None]) - arr  # -inf for padding: it arrives at inf
        return inside.clamp_min(0.0).sum(1)

    def _reward(self, act: torch.Tensor) -> torch.Tensor:
        new = self._integral_until(self.clock)
        reward = torch.where(act, -(new - self.integral) / self.reward_scale, 0.0)
        self.integral = torch.where(act, new, self.integral)
        return reward

    def _per_server(self) -> None:
        """Quantities of placing the current task on each server ``[B, N]``: transfer (the event semantics),
        the scheduler's free time and start (its information), speed, mask; and the running and queued
        task counts the scheduler knows of."""
        b = self.batch
        at_task = flat_index(self.cur_task, self.ready.shape[1])
        par, par_mask = csr_rows(b.parent_ptr, b.n_parents, b.parent_idx, at_task, b.max_parents)
        p_server = self.server.gather(1, par)
        p_cost = (b.net_latency[:, None] + b.out_mb.gather(1, par) / b.bandwidth[:, None]) * par_mask
        # transfer(n) = max cost over parents not on n. With c1 the largest cost (its parent on s1)
        # and c2 the largest among parents not on s1: transfer = c2 on s1, c1 everywhere else. (With
        # no cost above 0, s1 may name any server: the transfer is 0 everywhere.)
        c1, arg = p_cost.max(1)
        s1 = p_server.gather(1, arg[:, None])
        c2 = (p_cost * (p_server != s1)).amax(1)
        self.cur_transfer = torch.where(self.n_idx == s1, c2[:, None], c1[:, None])
        now = torch.where(self.done, 0.0, self.clock)
        slots = b.slots * b.server_valid
        free = believed_free(self.queue, now, slots, ~self.done, self.slot_free.shape[2])
        self.cur_running, self.cur_queued = self.queue.running, self.queue.queued
        self.cur_free = self.slot_free.amin(-1) if self.information == "exact_queue" else free
        self.cur_start = torch.maximum(self.clock[:, None] + self.cur_transfer, self.cur_free)
        self.cur_speed = column_of_rows(b.speed, self.cur_type)
        self.cur_mask = (self.cur_speed > 0) & b.server_valid

    # -- outputs ---------------------------------------------------------------------------------
    def observe(self) -> Observation:
        """The observation of every environment's current decision."""
        return observe(self)

    def metrics(self) -> dict[str, torch.Tensor]:
        """Per-environment episode metrics ``[B]`` (meaningful once ``done``)."""
        return episode_metrics(self)
