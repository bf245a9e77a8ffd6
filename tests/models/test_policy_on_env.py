"""The policy drives the real batched simulator: any N, padded servers, finished environments."""

from __future__ import annotations

import torch

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
