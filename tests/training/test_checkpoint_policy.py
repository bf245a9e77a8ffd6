"""A policy trained at N=16 and saved by ``fit`` schedules a 64-server cluster: in Python and via ``schedule``."""

from __future__ import annotations

import json
import math
import shutil

import torch

from scale_pl.algos.module import SCALEModule
from scale_pl.io.policy_loader import load_checkpoint_policy, strip_checkpoint
from scale_pl.io.workload_file import write_workload
from scale_pl.models.policy import GreedyPolicy
from scale_pl.sim.batched.batch import workload_batch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
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


def test_evaluate_command_summarises_checkpoints_of_one_method(trained_run, tmp_path):
    """Two files given one NAME are two runs of one method: their rows share the group, the table counts 2."""
    for name in ("a.ckpt", "b.ckpt"):
        shutil.copyfile(trained_run.checkpoints / "best.ckpt", tmp_path / name)
    args = ["evaluate", "--checkpoint", "scale=[ab].ckpt", "--heuristics", "eft", "--sizes", "4", "8",
            "--seeds", "2", "--workflows-per-server", "2", "--json", "rows.json"]  # fmt: skip
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [(r["method"], r["group"], r["num_servers"]) for r in rows] == [
        ("a", "scale", 4), ("b", "scale", 4), ("eft", "eft", 4), ("a", "scale", 8), ("b", "scale", 8), ("eft", "eft", 8)
    ]  # fmt: skip
    for n in (4, 8):
        a, b, eft = (r for r in rows if r["num_servers"] == n)
        assert a["art"] == b["art"]  # the same weights on the same test workloads
        # identical runs: the IQM is the ART and the bootstrap interval a point
        line = f"| {n} | scale | {a['art']:.2f} [{a['art']:.2f}, {a['art']:.2f}] |"
        tables = 4 if a["diagnostics"] else 3  # ART, pattern, z (and diagnostics, if the policy reports them)
        assert line in result.stdout and result.stdout.count(f"| {n} | scale |") == tables
        assert set(a["z"]) == {"mean", "std", "kl", "decorrelation"} and not eft["z"]
        assert set(a["pattern_art"]) == set(eft["pattern_art"]) and a["pattern_art"]
        assert f"| {n} | eft | {eft['art']:.2f} |" in result.stdout


def test_evaluate_command_rejects_bad_input_in_one_line(trained_run, tmp_path):
    shutil.copyfile(trained_run.checkpoints / "best.ckpt", tmp_path / "a.ckpt")
    cases = {
        ("--checkpoint", "missing.ckpt"): "missing.ckpt",
        ("--checkpoint", "a.ckpt", "x=a.ckpt"): "given twice",
        ("--checkpoint", "x=b*.ckpt"): "matches no file",
        ("--heuristics", "lookahead:soon"): "lookahead horizon",
        ("--heuristics", "eft", "--sizes", "0"): "--sizes",
        ("--heuristics", "eft", "--json", "nowhere/rows.json"): "does not exist",
    }
    for extra, message in cases.items():
        result = run_cli(["evaluate", *extra], tmp_path)
        assert result.returncode == 2, (extra, result.stderr)
        assert result.stderr.startswith("error:") and message in result.stderr, (extra, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ckpt"]  # nothing half-written


def test_a_stripped_checkpoint_schedules_exactly_like_the_full_one(trained_run, tmp_path):
    full = trained_run.checkpoints / "best.ckpt"
    strip_checkpoint(full, tmp_path / "small.ckpt", mlflow_run_id=trained_run.run_id)
    small = torch.load(tmp_path / "small.ckpt", weights_only=True)
    assert "optimizer_states" not in small and small["mlflow_run_id"] == trained_run.run_id
    assert (tmp_path / "small.ckpt").stat().st_size < full.stat().st_size / 2
    generator = load_generator(num_workflows=32)
    batch = workload_batch(generator, load_cluster_spec(), 32, [7, 8])
    schedules = []
    for path in (full, tmp_path / "small.ckpt"):
        env = SchedulingEnv(batch)
        run_episode(env, load_checkpoint_policy(path))
        schedules.append((env.server.clone(), env.metrics()["art"]))
    assert torch.equal(schedules[0][0], schedules[1][0]) and torch.equal(schedules[0][1], schedules[1][1])
