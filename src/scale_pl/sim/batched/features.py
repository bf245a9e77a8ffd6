"""Building the size-free :class:`Observation` from the batched environment's state."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scale_pl.sim.batched.indexing import csr_rows, rows
from scale_pl.sim.batched.state import EnvState
from scale_pl.sim.system.observation import Observation


def observe(env: EnvState) -> Observation:
    """Task, workflow-DAG and server features of each environment's current decision."""
    b = env.batch
    bs, w1, m = b.shape
    ts = env.time_scale
    done = env.done
    now = torch.where(done, 0.0, env.clock)  # finished envs keep finite (stale) features
    k = b.speed.shape[2]
    cur = env.cur_task

    def scaled(x: torch.Tensor) -> torch.Tensor:
        return torch.log1p(x.clamp_min(0.0) / ts)

    # Raw per-server quantities (seconds from now) for heuristics.
    exp_work = rows(b.exp_work, cur)
    duration = rows(b.latency, env.cur_type)[:, None] + exp_work[:, None] / env.cur_speed.clamp_min(1e-30)
    feasible = env.cur_mask & ~done[:, None]
    est_finish = torch.where(feasible, env.cur_start + duration - now[:, None], float("inf"))
    backlog = (env.cur_free - now[:, None]).clamp_min(0.0)  # inf on padded servers

    # The current workflow's tasks: static features (type one-hot, work, bottom level) were
    # built once at reset; the state one-hot is derived from start/finish/parents-left.
    w = env.cur_wf

    def of_workflow(t: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, M], contiguous row copies
        return rows(t.view(bs, w1, m), w)

    node_mask = of_workflow(b.task_valid)
    start, finish, ready_lb = of_workflow(env.start), of_workflow(env.finish), of_workflow(env.ready_lb)
    decided = torch.isfinite(start)
    n_now = now[:, None]
    # Events at or before now are known, but a task placed at this instant has not reported its start.
    started = decided & (ready_lb < n_now) & (start <= n_now)  # a placed task was decided at its ready time
    # ready = every parent finished by now (ready_lb is the latest parent finish once all are placed)
    parents_done = (of_workflow(env.parents_left) == 0) & (ready_lb <= n_now)
    bl_rows = of_workflow(env.bottom_level)
    bl = rows(env.bottom_level, cur)
    slack = torch.where(~decided & node_mask, bl_rows, 0.0).amax(1) - bl
    local = cur - w * m
    dynamic = torch.stack(
        (
            started & (finish <= n_now),
            started & (finish > n_now),
            decided & ~started,
            ~decided & parents_done & node_mask,
            ~decided & ~parents_done & node_mask,
            torch.arange(m, device=cur.device) == local[:, None],
        ),
        dim=-1,
    )
    static = _node_static(env, w, node_mask)  # [B, M, K + 2]
    nodes = torch.cat((static, dynamic.float()), dim=-1)

    n_children = rows(b.n_children, cur)
    task = torch.cat(
        (
            F.one_hot(env.cur_type, k).to(now.dtype),
            torch.stack(
                (
                    scaled(exp_work),
                    scaled(bl),
                    torch.log1p(n_children.to(now.dtype)),
                    scaled(now - rows(b.arrival, env.cur_wf).clamp_max(1e300)),
                    scaled(rows(env.wf_rem_work, env.cur_wf)),
                ),
                dim=-1,
            ),
        ),
        dim=-1,
    ).float()

    edges, edge_mask = _workflow_edges(env, w)
    servers = _server_features(env, now, feasible, est_finish, backlog)
    system = _system_features(env, now, backlog)
    return Observation(
        task=task,
        nodes=nodes,
        node_mask=node_mask,
        edges=edges,
        edge_mask=edge_mask,
        current=local,
        servers=servers,
        system=system,
        mask=feasible,
        est_finish=est_finish,
        backlog=backlog,
        speed=env.cur_speed,
        transfer=env.cur_transfer,
        bottom_level=bl,
        slack=slack,
        done=done,
    )


def _server_features(
    env: EnvState, now: torch.Tensor, feasible: torch.Tensor, est_finish: torch.Tensor, backlog: torch.Tensor
) -> torch.Tensor:
    """``[B, N, C + 8]`` per-server features; all size-free."""
    b, ts = env.batch, env.time_scale
    slots = b.slots.to(now.dtype).clamp_min(1.0)
    eft = torch.where(feasible, est_finish, 0.0)
    best = torch.where(feasible, est_finish, float("inf")).amin(1, keepdim=True).clamp(1e-9, 1e300)
    eft_ratio = torch.where(feasible, torch.log(eft.clamp_min(1e-9) / best).clamp_min(0.0), 0.0)
    queue = env.cur_queued.sum(-1) / slots  # placed, not started by now: exact counts over the whole queue
    util = env.cur_running.sum(-1) / slots
    feats = torch.stack(
        (
            env.cur_speed,
            torch.log1p(slots),
            torch.log1p(backlog / ts),
            torch.log1p(eft / ts),
            eft_ratio,
            torch.log1p(env.cur_transfer / ts),
            queue,
            util,
        ),
        dim=-1,
    )
    feats = torch.where(b.server_valid.unsqueeze(-1), feats, 0.0)  # padded servers have no free slot (inf)
    return torch.cat((env.server_static, feats.float()), dim=-1)  # server_static is 0 on padded servers


def _workflow_edges(env: EnvState, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The current workflow's edges ``[B, E, 2]`` as (parent, child) indices into its nodes, and their mask.

    A workflow's edges are one contiguous slice of the child lists (tasks are in flat order).
    """
    b = env.batch
    base = (w * b.shape[2])[:, None]
    lists = (b.edge_ptr, b.n_edges)
    parent, mask = csr_rows(*lists, b.edge_src, w, b.max_edges, env.sink)
    child, _ = csr_rows(*lists, b.child_idx, w, b.max_edges, env.sink)
    parent, child = torch.where(mask, parent - base, 0), torch.where(mask, child - base, 0)
    return torch.stack((parent, child), dim=-1), mask


def _system_features(env: EnvState, now: torch.Tensor, backlog: torch.Tensor) -> torch.Tensor:
    """``[B, 2 + C]`` size-free system state: workflows in the system per server, their mean age, and
    the mean backlog of each server class (0 for a class the cluster does not have)."""
    b, ts = env.batch, env.time_scale
    arrival = b.arrival
    inside = b.wf_valid & (arrival <= now[:, None]) & (env.completion > now[:, None])
    count = inside.sum(1).to(now.dtype)
    age = torch.where(inside, now[:, None] - arrival, 0.0).sum(1) / count.clamp_min(1.0)
    servers = b.server_valid.sum(1).to(now.dtype).clamp_min(1.0)
    members = env.server_static.to(now.dtype)  # [B, N, C] class one-hot (0 for padded servers)
    per_class = torch.einsum("bn,bnc->bc", torch.where(b.server_valid, backlog, 0.0), members)
    per_class = per_class / members.sum(1).clamp_min(1.0)
    return torch.cat(
        ((count / servers)[:, None], torch.log1p(age / ts)[:, None], torch.log1p(per_class / ts)), dim=1
    ).float()


def server_classes(env: EnvState) -> torch.Tensor:
    """``[B, N, C]`` class one-hot of every server (0 for padded servers), float32; built once at reset."""
    b = env.batch
    return F.one_hot(b.server_class, b.num_classes).float() * b.server_valid.unsqueeze(-1)


def _node_static(env: EnvState, w: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
    """``[B, M, K + 2]`` type one-hot, log expected work and log bottom level of workflow ``w``'s tasks.

    Built per step from ``[B, M]`` rows: keeping them for every task of the batch would cost more
    memory than the rest of the state.
    """
    b, ts = env.batch, env.time_scale
    bs, w1, m = b.shape
    k = b.speed.shape[2]
    per_task = torch.zeros(bs, m, k + 2, device=w.device)
    per_task.scatter_(2, rows(b.type.view(bs, w1, m), w).unsqueeze(-1), 1.0)
    per_task[..., k] = torch.log1p(rows(b.exp_work.view(bs, w1, m), w) / ts)
    per_task[..., k + 1] = torch.log1p(rows(env.bottom_level.view(bs, w1, m), w) / ts)
    return per_task * node_mask.unsqueeze(-1)
