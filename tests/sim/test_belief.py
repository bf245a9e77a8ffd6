"""The scheduler's belief about server queues, on examples worked by hand (docs/model.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scale_pl.baselines import EarliestFinishTime, RandomPolicy
from scale_pl.sim.batched.belief import believed_slots
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from scale_pl.sim.reference.simulator import ReferenceSimulator
from scale_pl.sim.system.catalogue import Catalogue, Primitive
from scale_pl.sim.system.cluster import Cluster, Network, ServerClass
from scale_pl.sim.system.workload import Workflow, Workload
from tests.sim.builders import make_env, random_setup


def single_tasks(slots: int, tasks: list[tuple[float, float, float]]) -> tuple[Workload, Cluster]:
    """One server (speed 1, ``slots`` slots, no latency, no transfers); one single-task workflow per
    (arrival, expected work, actual work)."""
    cat = Catalogue([Primitive("x", work=1.0, cv=0.0, latency=0.0, output_mb=0.0)])
    cluster = Cluster(cat, [ServerClass("s", {"x": 1.0}, slots=slots)], np.array([0]), Network(0.0, 100.0))
    flows = [
        Workflow(f"w{i}", arrival, [0], [expected], [actual], [0.0], np.zeros((0, 2)))
        for i, (arrival, expected, actual) in enumerate(tasks)
    ]
    return Workload(cat, flows), cluster


def observe_last(workload: Workload, cluster: Cluster, information: str):
    """The observation of the last decision after placing every earlier task on server 0."""
    env = make_env([(workload, cluster)], information=information, reward_scale=1.0)
    obs = env.observe()
    for _ in range(workload.num_tasks - 1):
        obs, _, _ = env.step(torch.tensor([0]))
    return env, obs


# The worked example of docs/model.md: A runs from 0 (expected 2, really 3), B queued behind it
# (ready at 1, expected 1, really 1.2), C arrives at 2.5 (expected 0.5).
EXAMPLE = [(0.0, 2.0, 3.0), (1.0, 1.0, 1.2), (2.5, 0.5, 0.7)]


@pytest.mark.parametrize(
    ("information", "backlog", "est_finish"),
    [
        # A overran: believed to end now (2.5); B then 2.5..3.5; C would end at 4.0.
        ("expected", 1.0, 1.5),
        # the server reports actual remaining work: A ends 3.0, B 3.0..4.2; C would end at 4.7.
        ("exact_queue", 1.7, 2.2),
    ],
)
def test_worked_example(information: str, backlog: float, est_finish: float) -> None:
    workload, cluster = single_tasks(1, EXAMPLE)
    env, obs = observe_last(workload, cluster, information)
    assert env.clock.item() == 2.5
    assert obs.backlog.item() == pytest.approx(backlog)
    assert obs.est_finish.item() == pytest.approx(est_finish)
    queued, running = obs.servers[0, 0, -2:].tolist()
    assert (queued, running) == (1.0, 1.0)  # B queued, A running: exact counts per slot
    # system: 3 workflows in the system on 1 server, mean age (2.5 + 1.5 + 0) / 3, class backlog
    assert obs.system[0].tolist() == pytest.approx(
        [3.0, math.log1p((4.0 / 3) / 2.0), math.log1p(backlog / 2.0)], rel=1e-6
    )
    seen = []
    ReferenceSimulator(workload, cluster, information=information).run(lambda o: seen.append(o) or torch.tensor([0]))
    assert seen[-1].backlog.item() == pytest.approx(backlog)
    assert seen[-1].est_finish.item() == pytest.approx(est_finish)


def test_the_simulation_itself_follows_the_actual_work() -> None:
    """Whatever the scheduler believes, C runs after B's actual end: 4.2 .. 4.9."""
    for information in ("expected", "exact_queue"):
        env, _ = observe_last(*single_tasks(1, EXAMPLE), information)
        env.step(torch.tensor([0]))
        m = env.batch.shape[2]
        assert env.start[0, 2 * m].item() == pytest.approx(4.2)
        assert env.finish[0, 2 * m].item() == pytest.approx(4.9)


def test_queued_tasks_take_the_slot_believed_to_free_first() -> None:
    """Two slots. A and B start at 0 (expected 4 and 2, both really 10); C (expected 3) and D
    (expected 1) queue at 0.5 and 0.6; E is placed at 1. Believed: slots free at 4 and 2; C takes
    the one at 2 (-> 5), D the one at 4 (-> 5): backlog 5 - 1 = 4. Actually: C 10..13, D 10..11."""
    workload, cluster = single_tasks(2, [(0.0, 4.0, 10.0), (0.0, 2.0, 10.0), (0.5, 3.0, 3.0), (0.6, 1.0, 1.0),
                                         (1.0, 1.0, 1.0)])  # fmt: skip
    _, believed = observe_last(workload, cluster, "expected")
    assert believed.backlog.item() == pytest.approx(4.0)
    assert believed.est_finish.item() == pytest.approx(5.0)
    _, exact = observe_last(workload, cluster, "exact_queue")
    assert exact.backlog.item() == pytest.approx(10.0)
    assert believed.servers[0, 0, -2:].tolist() == [1.0, 1.0]  # 2 queued, 2 running, over 2 slots


def test_node_states_ready_only_once_every_parent_finished() -> None:
    """w0 = a -> b, plus a root c. a is placed at 0 (runs until 2); at c's decision (also at 0) b's
    only parent is placed but not finished: b is waiting, not ready. a did start at 0, but it was
    placed at this very instant, so its start event is not known yet: a is queued."""
    cat = Catalogue([Primitive("x", work=1.0, cv=0.0, latency=0.0, output_mb=0.0)])
    cluster = Cluster(cat, [ServerClass("s", {"x": 1.0}, slots=2)], np.array([0]), Network(0.0, 100.0))
    w0 = Workflow("w0", 0.0, [0, 0, 0], [2.0, 1.0, 1.0], [2.0, 1.0, 1.0], [0.0] * 3, [[0, 1]])
    env = make_env([(Workload(cat, [w0]), cluster)])
    obs, _, _ = env.step(torch.tensor([0]))
    assert env.clock.item() == 0.0 and obs.current.item() == 2
    states = obs.nodes[0, :, 3:8].tolist()  # after the type one-hot, expected work and bottom level
    assert states == [[0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0]]  # a queued, b waiting, c ready
    assert obs.servers[0, 0, -2:].tolist() == [0.5, 0.0]  # 1 queued, 0 running over 2 slots
    obs, _, _ = env.step(torch.tensor([0]))  # c at 0 -> 1; b is decided at 2, when a finishes
    assert env.clock.item() == 2.0
    assert obs.nodes[0, :, 3:8].tolist() == [[1, 0, 0, 0, 0], [0, 0, 0, 1, 0], [1, 0, 0, 0, 0]]


def test_the_queue_table_grows_without_changing_anything() -> None:
    """One row per server to start with forces the table to grow many times: same observations."""
    setups = [random_setup(s) for s in range(8)]
    envs = [make_env(setups, queue_rows=1), make_env(setups, queue_rows=64)]
    policy = EarliestFinishTime()
    obs = [e.observe() for e in envs]
    while not bool(envs[0].done.all()):
        action = policy(obs[0])
        assert torch.equal(action, policy(obs[1]))
        for name in ("est_finish", "backlog", "servers", "nodes", "system"):
            assert torch.equal(getattr(obs[0], name), getattr(obs[1], name)), name
        obs = [e.step(action)[0] for e in envs]
    assert envs[0].queue.rows > 1
    assert isinstance(envs[0], SchedulingEnv)


def recounted_belief(env: SchedulingEnv) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each server's earliest believed-free slot and running/queued counts from the whole table ``[B, N]``."""
    now = torch.where(env.done, 0.0, env.clock)
    running, queued = env.queue.states(now)
    slots = env.batch.slots * env.batch.server_valid
    return believed_slots(env.queue, now, slots).amin(-1), running.sum(-1), queued.sum(-1)


@pytest.mark.parametrize("policy", [EarliestFinishTime(), RandomPolicy(seed=3)])
def test_the_kept_counts_and_the_busy_servers_pass_are_the_whole_belief(policy) -> None:
    """A step recounts only the servers whose next known start or finish has come and runs the FIFO
    pass only where a server has a queue or no idle slot. At every decision that equals the belief
    recomputed from the whole table, exactly: the free times, and the counts in the server features.
    A random policy on two servers piles up long queues."""
    spec, generator = load_cluster_spec(), load_generator(num_workflows=12)
    cluster = spec.make(2, generator.catalogue)
    pairs = [random_setup(s) for s in range(40, 46)] + [(generator.generate(cluster, s), cluster) for s in range(2)]
    env = make_env(pairs)
    obs, longest = env.observe(), 0
    policy.reset(len(pairs))
    while not bool(env.done.all()):
        active = ~env.done
        free, running, queued = recounted_belief(env)
        assert torch.equal(env.cur_free[active], free[active])
        assert torch.equal(env.cur_running[active], running[active])
        assert torch.equal(env.cur_queued[active], queued[active])
        longest = max(longest, int(queued[active].max()))
        obs, _, _ = env.step(policy(obs))
    if isinstance(policy, RandomPolicy):
        assert longest >= 8, longest  # the FIFO pass really chained long queues
