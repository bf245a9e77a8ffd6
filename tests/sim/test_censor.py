"""The censoring cap: the certain lower bound on ART by hand, its invariants, and the stop."""

from __future__ import annotations

import math

import pytest
import torch

from scale_pl.baselines import EarliestFinishTime, RandomPolicy
from scale_pl.sim.batched.batch import workload_batch
from scale_pl.sim.batched.censor import ArtCap, art_bound, latest_finish, workflow_bounds
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from tests.sim.builders import make_env, random_setup
from tests.sim.test_env import tiny


def test_bound_by_hand_on_the_tiny_workload() -> None:
    """tiny(): w0 (a -> b) arrives at 0, w1 (c) at 1; a -> fast (finishes 1.5), c -> fast (finishes 2.5),
    b -> slow (finishes 7.1)."""
    env = make_env([tiny()])
    seen = [float(art_bound(env))]  # now 0: w0 arrived, nothing placed: 0 - 0; w1 not arrived: 0
    for action in (1, 1, 0):
        if action == 0:  # now 1.5: w0 has a placed (finish 1.5) and b not: max(1.5, 1.5) - 0; w1 done: 2.5 - 1
            assert workflow_bounds(env)[0, :2].tolist() == pytest.approx([1.5, 1.5])
            assert math.isnan(float(workflow_bounds(env)[0, 2]))  # the padding row
        env.step(torch.tensor([action]))
        seen.append(float(art_bound(env)))
    # now 1: w0 max(1, 1.5) - 0 = 1.5, w1 arrived at 1 with nothing placed: 1 - 1 = 0 -> 0.75;
    # at the end every workflow is complete: the bound is the ART (7.1 + 1.5) / 2
    assert seen == pytest.approx([0.0, 0.75, 1.5, 4.3])
    assert float(env.metrics()["art"]) == pytest.approx(4.3)
    # an explicit `now`: at 6, w0 is still running (7.1 is its last placed finish), w1 done
    assert float(art_bound(env, torch.tensor([6.0]))) == pytest.approx(4.3)


class Fixed:
    """Actions from a list, the same for every environment."""

    def __init__(self, actions: list[int]) -> None:
        self.actions = actions

    def reset(self, batch_size: int) -> None:
        self.step = 0

    def __call__(self, obs) -> torch.Tensor:
        self.step += 1
        return torch.full((obs.batch_size,), self.actions[self.step - 1])


def test_cap_stops_one_environment_at_the_first_decision_over_the_limit() -> None:
    """Two copies of tiny(): the first capped at 1.0 s (its bound is 0, 0.75, 1.5 at its three decisions),
    the second uncapped; the second finishes exactly as without a cap."""
    env = make_env([tiny(), tiny()], reward_scale=1.0)
    cap = ArtCap(torch.tensor([1.0, math.inf], dtype=torch.float64))
    ret = run_episode(env, Fixed([1, 1, 0]), cap=cap)
    assert cap.censored.tolist() == [True, False]
    assert float(cap.stop_time[0]) == 1.5 and float(cap.bound[0]) == pytest.approx(1.5)
    assert math.isnan(float(cap.bound[1])) and math.isnan(float(cap.stop_time[1]))
    assert env.num_decisions.tolist() == [2, 3]  # b of env 0 was never placed
    assert int(env.server[0, 1]) == -1 and bool(env.done.all())
    assert ret.tolist() == pytest.approx([-2.0, -8.6])  # env 0: the first two rewards (-1, -1) only
    assert float(env.metrics()["art"][1]) == pytest.approx(4.3)
    # the bounds at the stop: w0 running (placed finish 1.5), w1 complete (2.5 - 1)
    assert cap.workflow_bounds(env)[0, :2].tolist() == pytest.approx([1.5, 1.5])
    assert torch.isnan(cap.workflow_bounds(env)[1]).all()


def test_bound_never_exceeds_the_final_art_and_never_decreases() -> None:
    """30 random workloads and clusters, random placements: the bound at every decision; the cap's own
    running record of each workflow's latest placed finish matches a pass over every task."""
    env = make_env([random_setup(seed) for seed in range(30)])
    policy = RandomPolicy(seed=1)
    cap = ArtCap(torch.full((30,), 1e12, dtype=torch.float64))  # never reached: checks without stopping
    obs = env.observe()
    policy.reset(obs.batch_size)
    history = [art_bound(env)]
    while not bool(env.done.all()):
        obs, _, _ = env.step(policy(obs))
        history.append(art_bound(env))
        assert not cap.check(env)
        assert torch.equal(cap.latest, latest_finish(env))
    bounds = torch.stack(history)  # [steps + 1, B]
    final = env.metrics()["art"]
    assert torch.isfinite(bounds).all()
    assert (bounds <= final * (1 + 1e-12)).all()
    assert (bounds[1:] >= bounds[:-1] - 1e-9).all()
    assert torch.allclose(bounds[-1], final)


class Slowest:
    """A deliberately terrible policy: the feasible server with the latest believed finish."""

    def reset(self, batch_size: int) -> None:
        pass

    def __call__(self, obs) -> torch.Tensor:
        return torch.where(obs.mask & torch.isfinite(obs.est_finish), obs.est_finish, -math.inf).argmax(1)


def test_a_terrible_policy_is_censored_early_and_eft_never_is() -> None:
    spec, generator = load_cluster_spec(None), load_generator(None, num_workflows=48)
    batch = workload_batch(generator, spec, 12, [5, 6, 7])
    eft_env = SchedulingEnv(batch)
    run_episode(eft_env, EarliestFinishTime())
    eft_art = eft_env.metrics()["art"]
    decisions = batch.task_valid.sum(1)

    for k in (1.0, 3.0):  # EFT against a cap of K x its own ART: its bound never exceeds its ART
        env = SchedulingEnv(batch)
        cap = ArtCap(k * eft_art)
        run_episode(env, EarliestFinishTime(), cap=cap)
        assert not bool(cap.censored.any()) and torch.equal(env.num_decisions, decisions)

    env = SchedulingEnv(batch)
    cap = ArtCap(3.0 * eft_art)
    run_episode(env, Slowest(), cap=cap)
    assert bool(cap.censored.all())
    assert (env.num_decisions < decisions / 4).all()  # stopped early (uncapped, its ART is about 45x EFT's)
    assert (cap.bound > 3.0 * eft_art).all()
