"""Rollout collection: shapes, episode restarts, and the env's partial reset."""

from __future__ import annotations

import pytest
import torch

from scale_pl.baselines import EarliestFinishTime, make_heuristic
from scale_pl.data.rollout import RolloutCollector, stack_observations
from scale_pl.models.policy import build_policy
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.generators.config import load_cluster_spec, load_generator


def pool(n: int = 4, workflows: int = 3) -> WorkloadBatch:
    generator, spec = load_generator(num_workflows=workflows), load_cluster_spec()
    cluster = spec.make(8, generator.catalogue)
    return WorkloadBatch.from_pairs([(generator.generate(cluster, s), cluster) for s in range(n)])


def test_reset_envs_restarts_only_the_given_environments() -> None:
    p = pool()
    env = SchedulingEnv(p.select(torch.tensor([0, 1])))
    policy, obs = EarliestFinishTime(), env.observe()
    for _ in range(5):
        obs, _, _ = env.step(policy(obs))
    untouched = env.start[0].clone()
    env.reset_envs(torch.tensor([1]), p.select(torch.tensor([3])))
    fresh = SchedulingEnv(p.select(torch.tensor([3])))
    assert torch.equal(env.start[0], untouched)
    assert int(env.num_decisions[1]) == 0 and int(env.num_decisions[0]) == 5
    assert torch.equal(env.ready[1], fresh.ready[0]) and torch.equal(env.batch.work[1], fresh.batch.work[0])
    # the restarted environment then runs exactly like a fresh one
    obs = env.observe()
    for _ in range(3):
        action = policy(obs)
        obs, _, _ = env.step(action)
    fobs = fresh.observe()
    for _ in range(3):
        fobs, _, _ = fresh.step(policy(fobs))
    assert torch.equal(env.server[1], fresh.server[0]) and torch.equal(env.finish[1], fresh.finish[0])


def test_collect_shapes_restarts_and_returns() -> None:
    torch.manual_seed(0)
    policy = build_policy(6, 4)
    collector = RolloutCollector(pool(), num_envs=3, num_steps=40, seed=1)
    rollout = collector.collect(policy)
    assert rollout.actions.shape == rollout.rewards.shape == rollout.dones.shape == (40, 3)
    assert rollout.obs.mask.shape[0] == 120 and rollout.last_value.shape == (3,)
    # 3-workflow episodes are shorter than 40 steps: every environment finished at least once
    assert rollout.dones.any(0).all()
    assert rollout.episode_returns.numel() == int(rollout.dones.sum())
    assert (rollout.episode_returns < 0).all() and (rollout.episode_art > 0).all()
    # the chosen servers were feasible in the stored observations
    assert rollout.obs.mask[torch.arange(120), rollout.actions.flatten()].all()
    assert torch.isfinite(rollout.obs.servers).all() and torch.isfinite(rollout.obs.nodes).all()
    assert rollout.dts.shape == (40, 3) and (rollout.dts[rollout.dones] == 0).all()


def test_rollout_dts_are_the_intervals_between_decision_times() -> None:
    """Replaying environment 0's actions on its workload reproduces every stored interval."""
    torch.manual_seed(0)
    one = pool(n=1)
    collector = RolloutCollector(one, num_envs=2, num_steps=30, seed=3)
    rollout = collector.collect(build_policy(6, 4))
    env = SchedulingEnv(one)
    env.observe()
    for t in range(30):
        before = float(env.clock[0])
        _, _, done = env.step(rollout.actions[t, :1])
        expected = 0.0 if bool(done[0]) else float(env.clock[0]) - before
        assert float(rollout.dts[t, 0]) == pytest.approx(expected, abs=1e-5), t
        if bool(done[0]):
            env = SchedulingEnv(one)
            env.observe()
    assert rollout.dones[:, 0].any() and (rollout.dts[~rollout.dones] > 0).any()


def test_stack_observations_is_time_major() -> None:
    env = SchedulingEnv(pool(2).select(torch.tensor([0, 1])))
    first = env.observe()
    second, _, _ = env.step(EarliestFinishTime()(first))
    stacked = stack_observations([first, second])
    assert torch.equal(stacked.mask[:2], first.mask) and torch.equal(stacked.mask[2:], second.mask)


def test_warmup_prefix_is_the_heuristics_and_episodes_truncate_after_k_decisions_per_server() -> None:
    """Without the warm-up cache: EFT places the first quarter of the tasks in the rollout (learn
    False); the policy then decides 2 x N tasks (the first episode: a staggered share of them),
    and the episode is truncated there with the critic's value of the next state."""
    torch.manual_seed(0)
    one = pool(n=1, workflows=6)
    tasks, servers = int(one.task_valid.sum()), int(one.server_valid.sum())
    warm, policy_steps = tasks // 4, 2 * servers
    assert warm >= 2 and warm + policy_steps < tasks  # a truncation, not an end
    policy = build_policy(6, 4).eval()
    collector = RolloutCollector(one, num_envs=1, num_steps=2 * (warm + policy_steps) + 2, seed=0, warmup="eft",
                                 warmup_fraction=0.25, decisions_per_server=2, cache_warmup=False)  # fmt: skip
    rollout = collector.collect(policy)
    learn, dones = rollout.learn[:, 0], rollout.dones[:, 0]
    first, second = dones.nonzero().flatten().tolist()[:2]
    assert warm <= first < warm + policy_steps  # the first episode's truncation is staggered
    assert not learn[:warm].any() and learn[warm : first + 1].all()
    # after the restart: warm-up again, then exactly 2 x N policy decisions
    restart = first + 1
    assert not learn[restart : restart + warm].any()
    assert learn[restart + warm : restart + warm + policy_steps].all()
    assert second == restart + warm + policy_steps - 1
    # the warm-up actions are EFT's on the same workload; the bootstrap is the next state's value
    env, eft = SchedulingEnv(one), EarliestFinishTime()
    obs = env.observe()
    for t in range(first + 1):
        if t < warm:
            assert int(rollout.actions[t, 0]) == int(eft(obs)[0]), t
        obs, _, _ = env.step(rollout.actions[t, :1])
    with torch.no_grad():
        expected = policy(obs).value[0]
    assert float(rollout.bootstrap[first, 0]) == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    others = torch.ones(rollout.num_steps, dtype=torch.bool)
    others[[first, second]] = False
    assert (rollout.bootstrap[others, 0] == 0).all()
    # episodes that are only truncated have no ART to report
    assert rollout.episode_returns.numel() == 2 and rollout.episode_art.numel() == 0


def test_a_teacher_acts_on_the_policys_decisions_and_marks_the_rollout_as_imitation() -> None:
    """Behaviour cloning: the teacher's actions are stored with the policy's log-probability of them."""
    torch.manual_seed(0)
    one = pool(n=1, workflows=4)
    policy = build_policy(6, 4).eval()
    collector = RolloutCollector(one, num_envs=2, num_steps=40, seed=0, warmup="eft", warmup_fraction=0.25)
    rank_eft = make_heuristic("rank_eft")
    rollout = collector.collect(policy, teacher=rank_eft)
    assert rollout.imitation and rollout.learn.all()  # the cached warm-up is not in the rollout
    flat = rollout.obs
    with torch.no_grad():
        expected_actions = rank_eft(flat)
        log_probs = torch.log_softmax(policy(flat).logits, -1)
    learn = rollout.learn.flatten()
    assert torch.equal(rollout.actions.flatten()[learn], expected_actions[learn])
    stored = rollout.log_probs.flatten()[learn]
    torch.testing.assert_close(stored, log_probs[learn].gather(-1, expected_actions[learn, None]).squeeze(-1))
    assert not collector.collect(policy).imitation


def test_under_a_shield_the_teacher_chooses_among_what_the_policy_admits() -> None:
    """rank_eft may take a slow server the shield removes; it is shown the shielded servers only,
    so every stored log-probability is finite (behaviour cloning would otherwise get -inf)."""
    from scale_pl.models import HeuristicPrior

    torch.manual_seed(0)
    policy = build_policy(6, 4).eval()
    policy.set_anchor(HeuristicPrior("eft", kappa=3.0, shield=1.05))
    collector = RolloutCollector(pool(n=1, workflows=4), num_envs=2, num_steps=60, seed=0, warmup="eft")
    rollout = collector.collect(policy, teacher=make_heuristic("rank_eft"))
    learn = rollout.learn.flatten()
    flat = rollout.obs
    admitted = policy.allowed_servers(flat)[learn]
    actions = rollout.actions.flatten()[learn]
    assert admitted.gather(1, actions[:, None]).all()
    assert torch.isfinite(rollout.log_probs.flatten()[learn]).all()
    unshielded = make_heuristic("rank_eft")(flat)[learn]  # what the teacher takes with every server offered
    assert not admitted.gather(1, unshielded[:, None]).all()  # the shield mattered in this rollout
