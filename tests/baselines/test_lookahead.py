"""The lookahead reference policy and the environment copies it searches over."""

from __future__ import annotations

import torch

from scale_pl.baselines import EarliestFinishTime, make_heuristic
from scale_pl.baselines.lookahead import Lookahead
from scale_pl.sim.rollout import run_episode
from tests.sim.builders import make_env, random_setup
from tests.sim.test_env import tiny


def test_copies_step_exactly_like_the_original() -> None:
    env = make_env([random_setup(3), random_setup(4)])
    policy, obs = EarliestFinishTime(), env.observe()
    for _ in range(4):
        obs, _, _ = env.step(policy(obs))
    copies = env.repeat_interleave(3)
    assert copies.batch.arrival.shape[0] == 6
    action = policy(obs)
    env.step(action)
    copies.step(action.repeat_interleave(3))
    for j in range(3):
        assert torch.equal(copies.finish[j], env.finish[0]) and torch.equal(copies.finish[3 + j], env.finish[1])
        assert torch.equal(copies.completion[3 + j], env.completion[1])


def test_one_step_lookahead_prefers_the_placement_that_ends_the_workflow_sooner() -> None:
    env = make_env([tiny()])
    policy = Lookahead(horizon=0)
    policy.bind(env)
    obs = env.observe()
    assert policy(obs).item() == 1  # a: fast server finishes at 1.5 instead of 2.5
    obs, _, _ = env.step(torch.tensor([1]))
    obs, _, _ = env.step(torch.tensor([1]))  # c on the fast server (busy until 2.5)
    # b: slow server -> 2.6 + 4.5 = 7.1; fast -> 2.5 + 2.5 = 5.0 (no transfer)
    assert policy(obs).item() == 1


def test_lookahead_runs_episodes_and_is_selectable_by_name() -> None:
    env = make_env([random_setup(5)])
    run_episode(env, make_heuristic("lookahead"))
    assert bool(env.done.all()) and torch.isfinite(env.metrics()["art"]).all()
