"""The batched env against the reference simulator, decision by decision.

For random workloads and clusters (N 1..64, 1-4 slots, transfers on and off), both information
models, every heuristic and a seeded random policy, with finished environments restarted on new
workloads mid-batch as training does (and a few cut short and restarted while running): every
field of every observation, every per-step reward, and the schedule (server, start, finish of
every task) agree with the oracle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
import torch

from scale_pl.baselines import HEURISTICS, EarliestFinishTime, RandomPolicy, make_heuristic
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import INFORMATION_MODES, SchedulingEnv
from scale_pl.sim.generators.patterns import PATTERNS
from scale_pl.sim.reference.simulator import ReferenceSimulator
from scale_pl.sim.single.run import run_workload
from scale_pl.sim.system.observation import Observation
from tests.sim.builders import random_setup, task_table

SEEDS = range(120)
GROUP = 40  # per case: the first half starts the batch, the second half replaces environments
STATELESS = ("eft", "rank_eft", "least_loaded")  # the oracle re-derives their choice from its own observation
CUT_AT = 7  # step at which two running environments are cut short and restarted


@dataclass
class Segment:
    """One episode of one batched environment: its workload and what it saw, did and got."""

    setup: int
    observations: list[Observation] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)


def run_with_restarts(env: SchedulingEnv, pool: WorkloadBatch, first: int, policy) -> list[list[Segment]]:
    """Run envs 0..first-1 on pool rows 0..first-1; restart envs on the remaining rows as they finish
    (and two running ones at step ``CUT_AT``). Returns the segments of each environment."""
    bs = first
    segments = [[Segment(b)] for b in range(bs)]
    spare = list(range(first, pool.arrival.shape[0]))
    obs = env.observe()
    policy.reset(bs)
    step = 0
    while not bool(env.done.all()):
        action = policy(obs)
        active = (~env.done).nonzero().squeeze(1).tolist()
        for b in active:
            segments[b][-1].observations.append(obs.index(slice(b, b + 1)))
            segments[b][-1].actions.append(int(action[b]))
        obs, reward, done = env.step(action)
        for b in active:
            segments[b][-1].rewards.append(float(reward[b]))
        step += 1
        restart = [b for b in done.nonzero().squeeze(1).tolist() if len(segments[b]) == 1]
        if step == CUT_AT:
            restart += [b for b in (~done).nonzero().squeeze(1).tolist() if len(segments[b]) == 1][:2]
        restart = restart[: len(spare)]
        if restart:
            rows, spare = spare[: len(restart)], spare[len(restart) :]
            env.reset_envs(torch.tensor(restart), pool.select(torch.tensor(rows)))
            for b, row in zip(restart, rows, strict=True):
                segments[b].append(Segment(row))
            obs = env.observe()
    return segments


class Checker:
    """Drives the oracle with a segment's actions, comparing each of its observations with the batched one."""

    def __init__(self, segment: Segment, heuristic, context: str) -> None:
        self.segment, self.heuristic, self.context, self.i = segment, heuristic, context, 0

    def reset(self, batch_size: int) -> None:
        self.i = 0

    def __call__(self, ref: Observation) -> torch.Tensor:
        i, seg = self.i, self.segment
        self.i += 1
        if i >= len(seg.actions):  # a segment cut short: finish the oracle's episode with EFT
            return EarliestFinishTime()(ref)
        context = f"{self.context} decision {i}"
        assert_same_observation(seg.observations[i], ref, context)
        if self.heuristic is not None:
            assert int(self.heuristic(ref)[0]) == seg.actions[i], f"{context}: the oracle's heuristic chose otherwise"
        return torch.tensor([seg.actions[i]])


def close(a: torch.Tensor, b: torch.Tensor, context: str, rel: float = 1e-5, abs_: float = 1e-6) -> None:
    a, b = a.double().flatten(), b.double().flatten()
    assert a.shape == b.shape, f"{context}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    same_inf = torch.isinf(a) & torch.isinf(b) & (torch.sign(a) == torch.sign(b))
    ok = same_inf | torch.isclose(a, b, rtol=rel, atol=abs_)
    if not bool(ok.all()):
        i = int((~ok).nonzero()[0, 0])
        raise AssertionError(f"{context}: element {i}: batched {float(a[i])} vs oracle {float(b[i])}")


def assert_same_observation(mine: Observation, ref: Observation, context: str) -> None:
    """Every field; the batched env pads servers, tasks, edges and classes (the padding must be blank)."""
    n, m, e = ref.mask.shape[1], ref.nodes.shape[1], ref.edges.shape[1]
    for name in ("mask", "est_finish", "backlog", "speed", "transfer"):
        close(getattr(mine, name)[:, :n], getattr(ref, name), f"{context}: {name}")
    assert not bool(mine.mask[:, n:].any()), f"{context}: a padded server is feasible"
    for name in ("task", "bottom_level", "slack", "current"):
        close(getattr(mine, name), getattr(ref, name), f"{context}: {name}")
    close(mine.node_mask[:, :m], ref.node_mask, f"{context}: node_mask")
    assert not bool(mine.node_mask[:, m:].any()), f"{context}: a padded node is real"
    close(mine.nodes[:, :m], ref.nodes, f"{context}: nodes")
    edges = {tuple(x) for x in mine.edges[0][mine.edge_mask[0]].tolist()}
    assert edges == {tuple(x) for x in ref.edges[0].tolist()} and int(mine.edge_mask.sum()) == e, f"{context}: edges"
    c_ref = ref.servers.shape[2] - 8
    c_mine = mine.servers.shape[2] - 8
    close(mine.servers[:, :n, :c_ref], ref.servers[:, :, :c_ref], f"{context}: server class")
    close(mine.servers[:, :n, c_mine:], ref.servers[:, :, c_ref:], f"{context}: server features")
    assert not bool(mine.servers[:, :, c_ref:c_mine].any()), f"{context}: padded class columns"
    assert not bool(mine.servers[:, n:].any()), f"{context}: padded servers have features"
    close(mine.system[:, : 2 + c_ref], ref.system, f"{context}: system")
    assert not bool(mine.system[:, 2 + c_ref :].any()), f"{context}: padded class backlog"


def assert_same_schedule(batched, reference, context: str) -> None:
    ref = [(s, st, fi) for srv, sta, fin in zip(reference.server, reference.start, reference.finish, strict=True)
           for s, st, fi in zip(srv, sta, fin, strict=True)]  # fmt: skip
    assert len(batched) == len(ref), context
    for i, ((s1, st1, f1), (s2, st2, f2)) in enumerate(zip(batched, ref, strict=True)):
        assert s1 == s2, f"{context}: task {i} on server {s1} vs {s2}"
        assert math.isclose(st1, st2, rel_tol=1e-5, abs_tol=1e-9), f"{context}: task {i} start {st1} vs {st2}"
        assert math.isclose(f1, f2, rel_tol=1e-5, abs_tol=1e-9), f"{context}: task {i} finish {f1} vs {f2}"


@pytest.mark.parametrize("information", INFORMATION_MODES)
@pytest.mark.parametrize("policy_name", [*HEURISTICS, "replayed_random"])
@pytest.mark.parametrize("group", range(len(SEEDS) // GROUP))
def test_batched_matches_reference(policy_name: str, group: int, information: str) -> None:
    seeds = SEEDS[group * GROUP : (group + 1) * GROUP]
    setups = [random_setup(s) for s in seeds]
    pool = WorkloadBatch.from_pairs(setups)
    first = GROUP // 2
    env = SchedulingEnv(pool.select(torch.arange(first)), information=information)
    policy = RandomPolicy(seed=group) if policy_name == "replayed_random" else make_heuristic(policy_name)
    segments = run_with_restarts(env, pool, first, policy)
    metrics = env.metrics()
    for b, segs in enumerate(segments):
        for k, seg in enumerate(segs):
            workload, cluster = setups[seg.setup]
            context = f"seed {seeds[seg.setup]} N={cluster.num_servers} {policy_name} {information} env {b}.{k}"
            heuristic = make_heuristic(policy_name) if policy_name in STATELESS else None
            oracle = ReferenceSimulator(workload, cluster, reward_scale=env.reward_scale, information=information)
            result = oracle.run(Checker(seg, heuristic, context))
            complete = len(seg.actions) == workload.num_tasks
            assert complete or k == 0, f"{context}: only a first segment may be cut short"
            rewards = result.rewards if complete else result.rewards[: len(seg.rewards) - 1]
            close(torch.tensor(seg.rewards[: len(rewards)]), torch.tensor(rewards), f"{context}: rewards", 1e-6, 1e-9)
            if k == len(segs) - 1:
                assert_same_schedule(task_table(env, b, workload), result, context)
                for name, value in result.metrics.items():
                    assert math.isclose(float(metrics[name][b]), value, rel_tol=1e-6), f"{context}: {name}"


def test_random_setups_cover_the_space() -> None:
    """The seeds above really span N 1..64, several slot counts, transfers on and off, every pattern
    (the structures in setups of their own)."""
    setups = [random_setup(s) for s in SEEDS]
    sizes = {c.num_servers for _, c in setups}
    assert min(sizes) <= 3 and max(sizes) >= 60
    assert {int(s) for _, c in setups for s in c.slots} >= {1, 2, 3, 4}
    transfers = {bool(any(f.output_mb.any() for f in w.workflows)) for w, _ in setups}
    assert transfers == {True, False}
    patterns = {f.pattern for w, _ in setups for f in w.workflows}
    assert patterns == set(PATTERNS)


# -- the one-environment engine (``schedule`` and ``serve``) against the same oracle ------------------------------

ENGINE_SEEDS = range(24)


class Recorder:
    """Runs ``policy`` in the one-environment engine and keeps each observation and action."""

    def __init__(self, policy) -> None:
        self.policy, self.observations, self.actions = policy, [], []

    def reset(self, batch_size: int) -> None:
        self.policy.reset(batch_size)

    def __call__(self, obs: Observation) -> torch.Tensor:
        action = self.policy(obs)
        self.observations.append(obs)
        self.actions.append(int(action[0]))
        return action


@pytest.mark.parametrize("information", INFORMATION_MODES)
@pytest.mark.parametrize("policy_name", HEURISTICS)
def test_engine_matches_reference(policy_name: str, information: str) -> None:
    """Every field of every observation (the learned features included), every decision and the
    schedule of the one-environment engine agree with the oracle, on random setups."""
    for seed in ENGINE_SEEDS:
        workload, cluster = random_setup(seed)
        context = f"seed {seed} N={cluster.num_servers} {policy_name} {information} engine"
        recorder = Recorder(make_heuristic(policy_name, seed=seed))
        run = run_workload(workload, cluster, recorder, information=information, features=True)
        assert run.decisions == workload.num_tasks and not run.censored
        segment = Segment(seed, recorder.observations, recorder.actions)
        heuristic = make_heuristic(policy_name) if policy_name in STATELESS else None
        oracle = ReferenceSimulator(workload, cluster, information=information)
        result = oracle.run(Checker(segment, heuristic, context))
        engine = [(s, st, fi) for srv, sta, fin in zip(run.server, run.start, run.finish, strict=True)
                  for s, st, fi in zip(srv, sta, fin, strict=True)]  # fmt: skip
        assert_same_schedule(engine, result, context)
        metrics = run.schedule["metrics"]
        assert math.isclose(metrics["avg_response_time"], result.metrics["art"], rel_tol=1e-9), context
