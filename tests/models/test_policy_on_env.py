"""The policy drives the real batched simulator: any N, padded servers, finished environments."""

from __future__ import annotations

import torch

from scale_pl.baselines import EarliestFinishTime, RankAwareEFT
from scale_pl.models import GreedyPolicy, build_policy
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from scale_pl.sim.system.observation import node_feature_dim, server_feature_dim, task_feature_dim


def _env(sizes: tuple[int, ...]) -> SchedulingEnv:
    generator = load_generator(num_workflows=4)
    spec = load_cluster_spec()
    pairs = []
    for seed, n in enumerate(sizes):
        cluster = spec.make(n, generator.catalogue)
        pairs.append((generator.generate(cluster, seed), cluster))
    return SchedulingEnv(WorkloadBatch.from_pairs(pairs))


def test_policy_runs_episodes_with_finite_outputs() -> None:
    env = _env((8, 16, 5))
    obs = env.observe()
    k = obs.task.shape[-1] - task_feature_dim(0)
    c = obs.servers.shape[-1] - server_feature_dim(0)
    assert obs.nodes.shape[-1] == node_feature_dim(k)
    torch.manual_seed(0)
    policy = build_policy(k, c, encoder="gin", embed_dim=32, hidden_dim=32)
    steps = 0
    while not bool(env.done.all()):
        action, log_prob, value, z = policy.act(obs, generator=torch.Generator().manual_seed(steps))
        log_prob2, entropy, value2, z2 = policy.evaluate(obs, action)
        for t in (log_prob, value, z, log_prob2, entropy):
            assert torch.isfinite(t).all()
        torch.testing.assert_close((log_prob2, value2, z2), (log_prob, value, z))
        obs, _, _ = env.step(action)  # the env refuses an infeasible server for a live environment
        steps += 1
    assert steps > 0


def test_greedy_wrapper_follows_the_simulator_protocol() -> None:
    env = _env((6, 12))
    obs = env.observe()
    k, c = obs.task.shape[-1] - 5, obs.servers.shape[-1] - 8
    torch.manual_seed(0)
    returns = run_episode(env, GreedyPolicy(build_policy(k, c, embed_dim=32, hidden_dim=32)))
    assert returns.shape == (2,) and torch.isfinite(returns).all() and (returns < 0).all()


def test_a_strong_prior_with_a_tiny_residual_decides_like_its_heuristic() -> None:
    """On real episodes, prior "eft" (or "rank_eft") with the residual bounded to 1e-5 chooses a
    server as good as EFT's (rank-aware EFT's) by the heuristic's own criteria at every step."""
    for kind, heuristic in (("eft", EarliestFinishTime()), ("rank_eft", RankAwareEFT())):
        env = _env((8, 16, 5))
        obs = env.observe()
        k, c = obs.task.shape[-1] - 5, obs.servers.shape[-1] - 8
        torch.manual_seed(0)
        policy = build_policy(k, c, embed_dim=32, hidden_dim=32, prior=kind, kappa=3.0)
        policy.decoder.tanh_clip = 1e-5
        greedy, steps = GreedyPolicy(policy, record_features=True), 0
        while not bool(env.done.all()):
            action, want = greedy(obs), heuristic(obs)
            live = ~obs.done
            eft = obs.est_finish.gather(1, torch.stack([action, want], 1))[live]
            assert torch.equal(eft[:, 0], eft[:, 1])  # the same believed finish as the heuristic's pick
            if kind == "rank_eft":  # and the same speed
                speed = obs.speed.gather(1, torch.stack([action, want], 1))[live]
                assert torch.equal(speed[:, 0], speed[:, 1])
            obs, _, _ = env.step(action)
            steps += 1
        assert steps > 20
        assert greedy.diagnostics()["tie_share"] > 0.1  # the tiny residual leaves many servers tied
