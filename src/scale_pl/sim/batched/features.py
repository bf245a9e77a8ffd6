"""Building the size-free :class:`Observation` from the batched environment's state.

At B=1024 the observation is most of a step, and on CPU its cost is memory traffic: rows read
from the large per-task tensors, and interleaved writes into the ``[B, M, F]`` and ``[B, N, F]``
outputs. So the per-task inputs that never change are prepared once at reset, every output is
written in place (no stacking and concatenating of columns), node rows come from a small lookup
table, and masks are applied by arithmetic rather than ``torch.where`` (several times slower on
CPU) wherever the masked values are finite.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from scale_pl.sim.batched.indexing import flat_index, positions, take_rows
from scale_pl.sim.batched.state import EnvState
from scale_pl.sim.system.observation import Observation

INF = float("inf")


def observe(env: EnvState) -> Observation:
    """Task, workflow-DAG and server features of each environment's current decision."""
    b = env.batch
    _, w1, m = b.shape
    done = env.done
    now = torch.where(done, 0.0, env.clock)  # finished envs keep finite (stale) features
    at_task = flat_index(env.cur_task, w1 * m)
    at_wf = flat_index(env.cur_wf, w1)

    # Raw per-server quantities (seconds from now) for heuristics.
    exp_work = take_rows(b.exp_work, at_task)
    latency = take_rows(b.latency, flat_index(env.cur_type, b.latency.shape[1]))
    duration = latency[:, None] + exp_work[:, None] / env.cur_speed.clamp_min(1e-30)
    feasible = env.cur_mask & ~done[:, None]
    est_finish = torch.where(feasible, env.cur_start + duration - now[:, None], INF)
    backlog = (env.cur_free - now[:, None]).clamp_min(0.0)  # inf on padded servers

    bl = take_rows(env.bottom_level, at_task)
    nodes, node_mask, slack = _nodes(env, now, at_wf, bl)
    task = _task_features(env, now, at_task, at_wf, exp_work, bl)
    edges, edge_mask = _workflow_edges(env, at_wf)
    return Observation(
        task=task,
        nodes=nodes,
        node_mask=node_mask,
        edges=edges,
        edge_mask=edge_mask,
        current=env.cur_task - env.cur_wf * m,
        servers=_server_features(env, feasible, est_finish, backlog),
        system=_system_features(env, now, backlog),
        mask=feasible,
        est_finish=est_finish,
        backlog=backlog,
        speed=env.cur_speed,
        transfer=env.cur_transfer,
        bottom_level=bl,
        slack=slack,
        done=done,
    )


def _nodes(
    env: EnvState, now: torch.Tensor, at_wf: torch.Tensor, bl: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The current workflow's node features ``[B, M, K + 8]``, node mask ``[B, M]`` and the task's slack ``[B]``.

    Columns: type one-hot, log expected work, log bottom level, state one-hot (done, running,
    queued, ready, waiting), is-the-task-to-place. Every column but the two logs is a function of
    (type, state, is-current), so a node's row is looked up by that code in a small table. Each
    row read from a per-task tensor costs a cache miss per environment, so the static part comes
    from one (``node_static``).
    """
    b = env.batch
    bs, w1, m = b.shape
    k = b.speed.shape[2]

    def of_workflow(t: torch.Tensor) -> torch.Tensor:  # [B, T, *rest] -> [B, M, *rest], contiguous copies
        return take_rows(t.view(bs, w1, m, *t.shape[2:]), at_wf)

    static = of_workflow(env.node_static)  # [B, M, 3]
    type_code = static[..., 2]
    node_mask = type_code > 0
    start, ready_lb = of_workflow(env.start), of_workflow(env.ready_lb)
    n = now[:, None]
    decided = start < INF
    # Events at or before now are known, but a task placed at this instant has not reported its start
    # (a placed task was decided at its ready time, ready_lb); an undecided task starts at inf.
    started = (start <= n) & (ready_lb < n)
    finished = started & (of_workflow(env.finish) <= n)
    # an undecided task is ready once every parent is placed and finished by now: its ready time is set
    # (the latest parent finish) once the last parent is placed, inf before
    ready = of_workflow(env.ready) <= n
    # done 0, running 1, queued 2 (placed, not known started), ready 3, waiting 4: uint8 arithmetic on masks
    state = _as_int(decided) * 2 - _as_int(started) - _as_int(finished)
    state += _as_int(~decided) * (_as_int(~ready) + 3)
    current = positions(m, now.device) == (env.cur_task - env.cur_wf * m)[:, None]
    code = type_code + (state * 2 + _as_int(current)) * _as_int(node_mask)  # exact small integers in float32
    nodes = F.embedding(code.int(), _node_table(k, now.device))
    nodes[..., k : k + 2] = static[..., :2]
    undecided_bl = of_workflow(env.bottom_level) * ~decided  # bottom levels are >= 0 (0 on padding)
    return nodes, node_mask, undecided_bl.amax(1) - bl


def _as_int(mask: torch.Tensor) -> torch.Tensor:
    return mask.view(torch.uint8)


@lru_cache(maxsize=16)
def _node_table(k: int, device: torch.device) -> torch.Tensor:
    """``[1 + 10 K, K + 8]``: row ``1 + (type * 5 + state) * 2 + current`` holds those one-hot columns; row 0
    (padding) is blank."""
    table = torch.zeros(1 + 10 * k, k + 8, device=device)
    code = torch.arange(10 * k, device=device)
    table[1 + code, code // 10] = 1.0
    table[1 + code, k + 2 + (code // 2) % 5] = 1.0
    table[1 + code, k + 7] = (code % 2).float()
    return table


def static_node_features(env: EnvState) -> torch.Tensor:
    """``[B, T, 3]`` float32 per task, built once at reset: log-scaled expected work and bottom level (the
    node features' continuous columns), and the task's row of the node lookup table for state 0, not
    current (``1 + 10 x type``; 0 for padding)."""
    b, ts = env.batch, env.time_scale
    out = torch.empty(*b.exp_work.shape, 3, device=b.exp_work.device)
    for column, seconds in zip(out.unbind(-1)[:2], (b.exp_work, env.bottom_level), strict=True):
        torch.log1p(seconds / ts, out=column)  # one [B, T] temporary at a time: this runs on the largest batches
    torch.mul(b.type * 10 + 1, b.task_valid, out=out[..., 2])
    return out


def _task_features(
    env: EnvState, now: torch.Tensor, at_task: torch.Tensor, at_wf: torch.Tensor, exp_work: torch.Tensor,
    bl: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """``[B, K + 5]``: type one-hot, log expected work, log bottom level, log1p(#children), log workflow
    age, log workflow remaining expected work."""
    b = env.batch
    k = b.speed.shape[2]
    age = now - b.arrival.view(-1).index_select(0, at_wf).clamp_max(1e300)
    times = torch.stack((exp_work, bl, age, env.wf_rem_work.view(-1).index_select(0, at_wf)), dim=1)
    times = torch.log1p(times.clamp_min(0.0) / env.time_scale)
    children = torch.log1p(take_rows(b.n_children, at_task).to(now.dtype))
    task = torch.zeros(now.shape[0], k + 5, device=now.device)
    task.scatter_(1, env.cur_type[:, None], 1.0)
    task[:, k : k + 2] = times[:, :2]
    task[:, k + 2] = children
    task[:, k + 3 :] = times[:, 2:]
    return task


def _server_features(
    env: EnvState, feasible: torch.Tensor, est_finish: torch.Tensor, backlog: torch.Tensor
) -> torch.Tensor:
    """``[B, N, C + 8]`` per-server features; all size-free, all 0 on padded servers.

    Each column is written in place (float64 maths, stored as float32): stacking them would cost
    more than computing them.
    """
    b, ts = env.batch, env.time_scale
    valid = b.server_valid
    slots = b.slots.to(backlog.dtype)  # 0 on padded servers
    per_slot = slots.clamp_min(1.0)
    eft = torch.where(feasible, est_finish, 0.0)
    best = est_finish.amin(1, keepdim=True).clamp(1e-9, 1e300)  # est_finish is inf where infeasible
    c = env.server_static.shape[2]
    out = torch.empty(*valid.shape, c + 8, device=valid.device)
    out[..., :c] = env.server_static  # 0 on padded servers
    col = out[..., c:].unbind(-1)
    col[0].copy_(env.cur_speed)
    torch.log1p(slots, out=col[1])
    torch.log1p(backlog.clamp_max(1e300) * valid / ts, out=col[2])  # backlog is inf on padded servers
    torch.log1p(eft / ts, out=col[3])
    torch.mul(torch.log(eft.clamp_min(1e-9) / best).clamp_min(0.0), feasible, out=col[4])
    torch.log1p(env.cur_transfer * valid / ts, out=col[5])
    torch.div(env.cur_queued, per_slot, out=col[6])  # placed, not started by now: exact counts, whole queue
    torch.div(env.cur_running, per_slot, out=col[7])
    return out


def _workflow_edges(env: EnvState, at_wf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The current workflow's edges ``[B, E, 2]`` as (parent, child) indices into its nodes, and their mask."""
    b = env.batch
    mask = positions(b.wf_edges.shape[2], at_wf.device) < take_rows(b.n_edges, at_wf)[:, None]
    return take_rows(b.wf_edges, at_wf).long(), mask


def _system_features(env: EnvState, now: torch.Tensor, backlog: torch.Tensor) -> torch.Tensor:
    """``[B, 2 + C]`` size-free system state: workflows in the system per server, their mean age, and
    the mean backlog of each server class (0 for a class the cluster does not have)."""
    b, ts = env.batch, env.time_scale
    arrival, n = b.arrival, now[:, None]
    inside = (arrival <= n) & (env.completion > n)  # padded workflows arrive at inf
    count = inside.sum(1).to(now.dtype)
    age = ((n - arrival).clamp_min(0.0) * inside).sum(1) / count.clamp_min(1.0)
    servers = b.server_valid.sum(1).to(now.dtype).clamp_min(1.0)
    c = env.server_static.shape[2]
    per_class = torch.zeros(now.shape[0], c, dtype=now.dtype, device=now.device)
    per_class.scatter_add_(1, b.server_class, backlog.clamp_max(1e300) * b.server_valid)  # padded: inf
    members = env.server_static.sum(1).to(now.dtype).clamp_min(1.0)  # [B, C] servers per class
    out = torch.empty(now.shape[0], 2 + c, device=now.device)
    out[:, 0] = count / servers
    out[:, 1] = torch.log1p(age / ts)
    out[:, 2:] = torch.log1p(per_class / members / ts)
    return out


def server_classes(env: EnvState) -> torch.Tensor:
    """``[B, N, C]`` class one-hot of every server (0 for padded servers), float32; built once at reset."""
    b = env.batch
    one_hot = torch.zeros(*b.server_class.shape, b.num_classes, device=b.server_class.device)
    return one_hot.scatter_(2, b.server_class[..., None], b.server_valid[..., None].float())
