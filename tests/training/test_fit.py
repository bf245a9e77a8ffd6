"""``python -m scale_pl fit`` end to end: what a run leaves in MLflow and on disk, and resuming it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import mlflow
import pytest
import torch
import yaml

from tests.training.fitting import (
    REPO,
    ROLLOUTS_PER_EPOCH,
    STEPS_PER_ROLLOUT,
    checkpoint_dir,
    copy_store,
    fit_args,
    run_cli,
    runs,
)

STEPS_PER_EPOCH = ROLLOUTS_PER_EPOCH * STEPS_PER_ROLLOUT  # optimizer steps (= trainer.global_step)


def _load(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_fit_writes_an_mlflow_run_with_metrics_config_tags_and_checkpoints(trained_run, tmp_path):
    client = mlflow.MlflowClient(trained_run.tracking_uri)
    run = client.get_run(trained_run.run_id)
    assert run.info.status == "FINISHED"

    metrics = run.data.metrics
    expected = {"train/approx_kl", "train/clipfrac", "train/explained_variance", "train/entropy", "train/srr_kl",
                "train/srr_decorrelation", "val/N16/art", "val/N16/p95", "val/N16/z_std", "val/N16/eft_art",
                "val/N16/ratio_eft", "val/worst_ratio", "val/select", "val/select_trained_sizes", "train/ent_coef",
                "train/value_sigma", "train/grad_norm_actor",
                "train/grad_norm_critic",
                "final/N16/scale_art", "final/N16/eft_art", "final/N16/scale_p95", "final/N16/scale_p99",
                "final/N16/scale_slowdown", "final/N16/scale_utilisation"}  # fmt: skip
    assert expected <= set(metrics), sorted(expected - set(metrics))
    assert all(math.isfinite(metrics[k]) for k in expected)
    patterns = {k for k in metrics if k.startswith("final_pattern/N16/scale/")}  # ART per DAG pattern
    assert patterns and all(metrics[k] > 0 for k in patterns)
    history = client.get_metric_history(run.info.run_id, "train/approx_kl")
    assert len(history) == ROLLOUTS_PER_EPOCH  # one PPO update per rollout, logged every step
    # the entropy bonus decays linearly from ent_coef (0.01) to 0 over the run's rollouts
    ent = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "train/ent_coef"), key=lambda m: m.step)]
    assert ent == pytest.approx([0.01 * (1 - i / ROLLOUTS_PER_EPOCH) for i in range(ROLLOUTS_PER_EPOCH)])

    params = run.data.params
    assert (params["model.lr"], params["data.num_envs"], params["trainer.max_epochs"]) == ("0.0005", "4", "1")
    assert params["model.policy.init_args.dag_encoder.class_path"] == "scale_pl.models.encoders.GINEncoder"

    tags = run.data.tags
    assert (tags["encoder"], tags["srr"], tags["train_sizes"]) == ("GINEncoder", "on", "16")
    assert tags["git_commit"]

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "final_evaluation.md"} <= artifacts
    config = yaml.safe_load(Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))).read_text())
    assert config["model"]["lr"] == 0.0005 and config["data"]["val_sizes"] == [16]

    ckpts = trained_run.checkpoints
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "last.ckpt"]
    last = _load(ckpts / "last.ckpt")
    assert (last["global_step"], last["epoch"]) == (STEPS_PER_EPOCH, 0)

    # Everything went to the temporary store: no file store, nothing in the repository.
    assert not (trained_run.cwd / "mlruns").exists() and not (REPO / "mlruns").exists()
    assert not checkpoint_dir(REPO, trained_run.run_id).exists()
    assert not (REPO / "mlartifacts" / trained_run.run_id).exists()


def test_resume_from_a_checkpoint_continues_the_step_count(trained_run, tmp_path, empty_store):
    last = trained_run.checkpoints / "last.ckpt"
    saved = _load(last)
    assert (saved["global_step"], saved["epoch"]) == (STEPS_PER_EPOCH, 0)

    uri = copy_store(empty_store, tmp_path)
    result = run_cli(fit_args("--ckpt_path", str(last), max_epochs=2), tmp_path, uri)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Restoring states from the checkpoint path" in result.stdout + result.stderr

    (run,) = runs(uri)
    resumed = _load(checkpoint_dir(tmp_path, run.info.run_id) / "last.ckpt")
    # One more epoch on top of the saved one: twice the steps of a single epoch.
    assert (resumed["global_step"], resumed["epoch"]) == (2 * STEPS_PER_EPOCH, 1)
    # The resumed run logs only the second epoch's updates, continuing the batch count.
    history = mlflow.MlflowClient(uri).get_metric_history(run.info.run_id, "train/approx_kl")
    assert sorted(m.step for m in history) == list(range(ROLLOUTS_PER_EPOCH, 2 * ROLLOUTS_PER_EPOCH))


def test_resume_from_last_finds_the_previous_runs_checkpoint(trained_run, tmp_path, empty_store):
    shutil.copytree(trained_run.checkpoints, checkpoint_dir(tmp_path, trained_run.run_id))
    uri = copy_store(empty_store, tmp_path)
    result = run_cli(fit_args("--ckpt_path", "last", max_epochs=2), tmp_path, uri)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "there is no last checkpoint available" not in result.stderr
    (run,) = runs(uri)
    resumed = _load(checkpoint_dir(tmp_path, run.info.run_id) / "last.ckpt")
    assert resumed["global_step"] == 2 * STEPS_PER_EPOCH


def test_without_a_checkpoint_callback_checkpoints_still_go_under_checkpoints(tmp_path, empty_store):
    """Lightning's default ModelCheckpoint would write ./<experiment id>/<run id>/ under MLflow."""
    uri = copy_store(empty_store, tmp_path)
    proc = run_cli(fit_args(callbacks=[]), tmp_path, uri)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "mlartifacts", "mlflow.db"]
    (run,) = runs(uri)
    assert (checkpoint_dir(tmp_path, run.info.run_id) / "last.ckpt").is_file()


@pytest.mark.parametrize(
    ("val_every", "epochs", "best_epoch"), [(1, 2, 0), (2, 3, 1)], ids=["val-each-epoch", "val-every-2"]
)
def test_last_checkpoint_holds_the_last_weights_when_best_stopped_improving(
    tmp_path, empty_store, val_every, epochs, best_epoch
):
    """Monitoring ``epoch`` in mode min makes the first validated epoch the best forever; last.ckpt must
    still move on: after each validation, and at the end when the last epoch had none."""
    uri = copy_store(empty_store, tmp_path)
    never_better = {"class_path": "scale_pl.cli.RunCheckpoint",
                    "init_args": {"monitor": "epoch", "mode": "min", "filename": "best"}}  # fmt: skip
    args = fit_args("--trainer.check_val_every_n_epoch", str(val_every), max_epochs=epochs, callbacks=[never_better])
    proc = run_cli(args, tmp_path, uri)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = runs(uri)
    folder = checkpoint_dir(tmp_path, run.info.run_id)
    best, last = _load(folder / "best.ckpt"), _load(folder / "last.ckpt")
    assert (best["global_step"], best["epoch"]) == ((best_epoch + 1) * STEPS_PER_EPOCH, best_epoch)
    assert last["global_step"] == epochs * STEPS_PER_EPOCH  # saved at the end: Lightning's epoch counter is past it
    assert not torch.equal(*(c["state_dict"]["policy.task_proj.weight"] for c in (best, last)))
