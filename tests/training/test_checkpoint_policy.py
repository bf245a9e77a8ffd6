"""A policy trained at N=16 and saved by ``fit`` schedules a 64-server cluster: in Python and via ``schedule``."""

from __future__ import annotations

import json
import math

import torch

from scale_pl.algos.module import SCALEModule
from scale_pl.evaluation.across_n import workload_batch
from scale_pl.io.policy_loader import load_checkpoint_policy
from scale_pl.io.workload_file import write_workload
from scale_pl.models.policy import GreedyPolicy
from scale_pl.sim.config import load_cluster_spec, load_generator
from scale_pl.sim.env import SchedulingEnv
from scale_pl.sim.rollout import run_episode
from tests.training.fitting import CONF, run_cli

N = 64  # four times the training size


def test_policy_trained_at_16_runs_greedy_episodes_at_64(trained_run):
    policy = load_checkpoint_policy(trained_run.checkpoints / "best.ckpt")
    assert isinstance(policy, GreedyPolicy)
    env = SchedulingEnv(workload_batch(load_generator(num_workflows=N), load_cluster_spec(), N, [11, 12]))
    run_episode(env, policy)
    assert bool(env.done.all())
    metrics = env.metrics()
    for name in ("art", "p95", "slowdown"):
        assert torch.isfinite(metrics[name]).all() and (metrics[name] > 0).all(), name
    assert int(env.server.max()) >= 16  # it uses servers a 16-server cluster does not have (padding is -1)


def test_schedule_command_runs_the_checkpoint_at_64(trained_run, tmp_path):
    generator = load_generator(num_workflows=N)
    cluster = load_cluster_spec().make(N, generator.catalogue)
    write_workload(generator.generate(cluster, 5), tmp_path / "w.json")
    args = ["schedule", "--workload", "w.json", "--cluster", str(CONF / "cluster" / "default.yaml"),
            "--servers", str(N), "--policy", str(trained_run.checkpoints / "best.ckpt"), "--out", "s.json"]  # fmt: skip
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote s.json:") and f"on {N} servers" in result.stdout
    schedule = json.loads((tmp_path / "s.json").read_text())
    assert len(schedule["servers"]) == N
    assert len(schedule["tasks"]) == sum(f.num_tasks for f in generator.generate(cluster, 5).workflows)
    assert all(t["start"] >= t["ready"] and t["finish"] > t["start"] for t in schedule["tasks"])
    assert math.isfinite(schedule["metrics"]["avg_response_time"]) and schedule["metrics"]["avg_response_time"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "w.json"]  # no mlflow.db, no checkpoints


def test_lightning_load_from_checkpoint_rebuilds_the_module(trained_run):
    module = SCALEModule.load_from_checkpoint(trained_run.checkpoints / "last.ckpt", map_location="cpu")
    assert module.policy.dag_encoder.in_dim == 14
