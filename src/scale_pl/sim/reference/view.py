"""What the scheduler sees in the reference simulator: its belief and every observation field.

Plain Python, written from the semantics in docs/model.md ("What the scheduler knows") and
independently of the batched environment's :mod:`~scale_pl.sim.batched.belief` and
:mod:`~scale_pl.sim.batched.features`, so that the differential tests compare two readings of the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from scale_pl.sim.system.observation import Observation


@dataclass
class Placed:
    """A task the scheduler placed on a server: what it was told and what really happens."""

    wf: int
    task: int
    start: float  # actual; known to the scheduler once it is <= now (a start event)
    finish: float  # actual; known once it is <= now (a finish event)
    duration: float  # expected duration on its server: latency + expected work / speed
    earliest: float  # ready + transfer: the earliest it can start
    placed: float  # the decision time: a task placed at this very instant has not reported its start


@dataclass
class ServerView:
    """One server as the scheduler sees it at time ``now``."""

    free: float  # earliest (believed, or actual under exact_queue) free slot
    queued: int  # placed, not started by now
    running: int  # started by now, not finished


@dataclass
class DecisionState:
    """What the decision step hands :func:`observation` for one decision."""

    wi: int
    t: int
    now: float
    transfer: list[float]
    views: list[ServerView]
    server: list[list[int]]
    ready: list[list[float]]
    start: list[list[float]]
    finish: list[list[float]]
    completion: list[float]
    undecided_work: float


def server_view(queue: list[Placed], slots: int, now: float, actual_free: float, information: str) -> ServerView:
    """Believed free time and queue counts of a server from the tasks placed on it, in placement order."""
    running = [p for p in queue if p.placed < now and p.start <= now < p.finish]
    queued = [p for p in queue if not (p.placed < now and p.start <= now)]
    if information == "exact_queue":
        return ServerView(actual_free, len(queued), len(running))
    # Running tasks are believed to end at their expected end, or now if they overran; idle slots are free now.
    slot_free = [max(now, p.start + p.duration) for p in running]
    slot_free += [now] * (slots - len(running))
    for p in queued:  # FIFO: each queued task takes the slot believed to free first
        i = slot_free.index(min(slot_free))
        slot_free[i] = max(slot_free[i], p.earliest) + p.duration
    return ServerView(min(slot_free), len(queued), len(running))


def observation(sim, d: DecisionState, features: bool = True) -> Observation:
    """Every field of the observation of decision ``d``.

    ``sim`` is the :class:`~scale_pl.sim.reference.knowledge.SchedulerKnowledge` (flows, parents, children,
    bottom levels, latencies, catalogue, cluster, time scale) of the reference simulator.
    With ``features=False`` only the raw fields the heuristics read are filled (mask, est_finish,
    backlog, speed, transfer, bottom_level, slack); the learned features (task, nodes, servers,
    system) are left empty, which saves most of the time of a heuristic's decision.
    """
    f, cl, ts = sim.flows[d.wi], sim.cluster, sim.time_scale
    k = int(f.types[d.t])
    n_servers, n_types = cl.num_servers, len(sim.catalogue)
    speed = [float(cl.speed[n, k]) for n in range(n_servers)]
    feasible = [s > 0 for s in speed]
    exp_work = float(f.expected_work[d.t])
    est = [
        max(d.now + d.transfer[n], d.views[n].free) + sim.latency[k] + exp_work / speed[n] - d.now
        if feasible[n]
        else math.inf
        for n in range(n_servers)
    ]
    backlog = [max(v.free - d.now, 0.0) for v in d.views]
    bl = sim.bottom[d.wi][d.t]
    undecided = [sim.bottom[d.wi][u] for u in range(f.num_tasks) if d.server[d.wi][u] < 0]

    def row(values, dtype=torch.float64) -> torch.Tensor:
        return torch.tensor([values], dtype=dtype)

    raw = {
        "current": torch.tensor([d.t]),
        "mask": torch.tensor([feasible]),
        "est_finish": row(est),
        "backlog": row(backlog),
        "speed": row(speed),
        "transfer": row(d.transfer),
        "bottom_level": torch.tensor([bl], dtype=torch.float64),
        "slack": torch.tensor([max(undecided) - bl], dtype=torch.float64),
        "done": torch.tensor([False]),
    }
    if not features:
        empty = torch.zeros(1, 0)
        return Observation(task=empty, nodes=empty[:, :, None], node_mask=torch.zeros(1, 0, dtype=torch.bool),
                           edges=torch.zeros(1, 0, 2, dtype=torch.long), edge_mask=torch.zeros(1, 0, dtype=torch.bool),
                           servers=empty[:, :, None], system=empty, **raw)  # fmt: skip

    def log_t(x: float) -> float:
        return math.log1p(max(x, 0.0) / ts)

    task = [
        *one_hot(k, n_types),
        log_t(exp_work),
        log_t(bl),
        math.log1p(len(sim.children[d.wi][d.t])),
        log_t(d.now - f.arrival),
        log_t(d.undecided_work),
    ]
    nodes = [node_row(sim, d, u, n_types) for u in range(f.num_tasks)]
    best = min(e for e, ok in zip(est, feasible, strict=True) if ok)
    servers = []
    for n in range(n_servers):
        eft = est[n] if feasible[n] else 0.0
        ratio = max(math.log(max(eft, 1e-9) / min(max(best, 1e-9), 1e300)), 0.0) if feasible[n] else 0.0
        slots = int(cl.slots[n])
        servers.append(
            [
                *one_hot(int(cl.server_class[n]), len(cl.classes)),
                speed[n],
                math.log1p(slots),
                log_t(backlog[n]),
                log_t(eft),
                ratio,
                log_t(d.transfer[n]),
                d.views[n].queued / slots,
                d.views[n].running / slots,
            ]
        )
    inside = [
        w.arrival
        for w, c in zip(sim.flows, d.completion, strict=True)
        if w.arrival <= d.now < c
    ]  # fmt: skip
    per_class = []
    for c in range(len(cl.classes)):
        members = [backlog[n] for n in range(n_servers) if cl.server_class[n] == c]
        per_class.append(log_t(sum(members) / len(members)) if members else 0.0)
    system = [len(inside) / n_servers, log_t(sum(d.now - a for a in inside) / max(len(inside), 1)), *per_class]

    return Observation(
        task=row(task, torch.float32),
        nodes=row(nodes, torch.float32),
        node_mask=torch.ones(1, f.num_tasks, dtype=torch.bool),
        edges=torch.as_tensor(f.edges, dtype=torch.long).reshape(1, -1, 2),
        edge_mask=torch.ones(1, len(f.edges), dtype=torch.bool),
        servers=row(servers, torch.float32),
        system=row(system, torch.float32),
        **raw,
    )


def node_row(sim, d: DecisionState, u: int, n_types: int) -> list[float]:
    """Type, expected work, bottom level, state (done, running, queued, ready, waiting), is-current."""
    f, ts = sim.flows[d.wi], sim.time_scale
    placed = d.server[d.wi][u] >= 0
    start, finish = d.start[d.wi][u], d.finish[d.wi][u]
    started = placed and d.ready[d.wi][u] < d.now and start <= d.now  # placed at its ready time
    parents = sim.parents[d.wi][u]
    parents_done = all(d.server[d.wi][p] >= 0 and d.finish[d.wi][p] <= d.now for p in parents)
    state = [
        started and finish <= d.now,
        started and d.now < finish,
        placed and not started,
        not placed and parents_done,
        not placed and not parents_done,
    ]
    return (
        one_hot(int(f.types[u]), n_types)
        + [math.log1p(f.expected_work[u] / ts), math.log1p(sim.bottom[d.wi][u] / ts)]
        + [float(s) for s in state]
        + [float(u == d.t)]
    )


def one_hot(i: int, n: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(n)]
