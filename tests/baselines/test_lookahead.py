"""The lookahead reference policy and the environment copies it searches over."""

from __future__ import annotations

import pytest
import torch

from scale_pl.baselines import EarliestFinishTime, make_heuristic
from scale_pl.baselines.lookahead import Lookahead
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.batched.what_if import believed_env
from tests.sim.builders import make_env, random_setup
from tests.sim.test_belief import EXAMPLE, observe_last, single_tasks
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


def test_the_search_sees_the_believed_world_not_the_actual_work() -> None:
    """docs/model.md's example: at C's decision (2.5) A (expected 2, really 3) is believed to end now,
    B (expected 1, really 1.2) 2.5..3.5. In the believed copy C on the server runs 3.5..4.0; in truth
    it would run 4.2..4.9. The original environment is untouched."""
    env, _ = observe_last(*single_tasks(1, EXAMPLE), "expected")
    world = believed_env(env)
    m = env.batch.shape[2]
    assert world.finish[0, 0].item() == pytest.approx(2.5) and env.finish[0, 0].item() == pytest.approx(3.0)
    assert (world.start[0, m].item(), world.finish[0, m].item()) == pytest.approx((2.5, 3.5))
    world.step(torch.tensor([0]))
    assert (world.start[0, 2 * m].item(), world.finish[0, 2 * m].item()) == pytest.approx((3.5, 4.0))
    env.step(torch.tensor([0]))
    assert (env.start[0, 2 * m].item(), env.finish[0, 2 * m].item()) == pytest.approx((4.2, 4.9))


def test_the_believed_world_agrees_with_the_belief_at_every_decision() -> None:
    """Its servers are where the scheduler believes them: same backlog and expected finishes, same task."""
    setups = [random_setup(s) for s in range(10, 18)]
    for information in ("expected", "exact_queue"):
        env = make_env(setups, information=information)
        policy, obs = EarliestFinishTime(), env.observe()
        while not bool(env.done.all()):
            world = believed_env(env)
            mine = world.observe()
            assert torch.equal(world.cur_task, env.cur_task) and torch.equal(world.clock, env.clock)
            active = ~env.done
            assert torch.allclose(mine.est_finish[active], obs.est_finish[active], rtol=1e-9, atol=1e-9)
            assert torch.allclose(mine.backlog[active], obs.backlog[active], rtol=1e-9, atol=1e-9)
            obs, _, _ = env.step(policy(obs))
