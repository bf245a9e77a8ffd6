"""Running ``python -m scale_pl fit`` on a tiny problem in a temporary folder, and reading back its MLflow run.

Every run happens in its own working directory with ``MLFLOW_TRACKING_URI`` pointing into it, so
nothing (``mlflow.db``, ``mlartifacts/``, ``checkpoints/``, ``mlruns/``) lands in the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
EXPERIMENT = "scale_pl"

# One tiny epoch: 2 rollouts of 4 envs x 8 steps; 1 PPO pass of 2 minibatches per rollout, never cut
# short by target_kl, so an epoch is exactly 2 batches and 4 optimizer steps.
ROLLOUTS_PER_EPOCH = 2
STEPS_PER_ROLLOUT = 2
TINY = [
    "--data.workload_config", str(CONF / "workload" / "default.yaml"),
    "--data.cluster_config", str(CONF / "cluster" / "default.yaml"),
    "--data.num_envs", "4",
    "--data.rollout_steps", "8",
    "--data.rollouts_per_epoch", str(ROLLOUTS_PER_EPOCH),
    "--data.pool_size", "4",
    "--data.workflows_per_episode", "3",
    "--data.val_sizes", "[16]",  # the checkpoint monitors val/select (here N=16 only)
    "--data.val_seeds", "1",
    "--trainer.check_val_every_n_epoch", "1",
    "--data.val_workflows_per_server", "1",
    "--model.reference_policies", "[eft]",
    "--model.update_epochs", "1",
    "--model.num_minibatches", str(STEPS_PER_ROLLOUT),
    "--model.target_kl", "null",
]  # fmt: skip
CHECKPOINT_CALLBACK = {
    "class_path": "scale_pl.cli.RunCheckpoint",
    "init_args": {"monitor": "val/select", "mode": "min", "filename": "best"},
}
FINAL_EVALUATION = {  # as in conf/quickstart.yaml, at the smallest size
    "class_path": "scale_pl.evaluation.callback.FinalEvaluation",
    "init_args": {"sizes": [16], "seeds": 1, "workflows_per_server": 1, "heuristics": ["eft"]},
}


def fit_args(*extra: str, max_epochs: int = 1, callbacks: list[dict] | None = None) -> list[str]:
    """``fit --config conf/quickstart.yaml`` shrunk to seconds; ``callbacks`` replace the config's list."""
    callbacks = [CHECKPOINT_CALLBACK] if callbacks is None else callbacks
    return ["fit", "--config", str(CONF / "quickstart.yaml"), *TINY, "--trainer.max_epochs", str(max_epochs),
            "--trainer.callbacks", json.dumps(callbacks), *extra]  # fmt: skip


def sqlite_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def create_store(folder: Path) -> Path:
    """An empty MLflow sqlite store in ``folder``: creating its tables takes seconds, so tests copy it."""
    mlflow.MlflowClient(sqlite_uri(folder)).search_experiments()
    return folder / "mlflow.db"


def copy_store(store: Path, folder: Path) -> str:
    """A copy of the empty ``store`` as ``folder/mlflow.db``; returns its tracking URI."""
    shutil.copyfile(store, folder / "mlflow.db")
    return sqlite_uri(folder)


def cli_env(tracking_uri: str, **extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: one thread, this MLflow store, ``tests`` importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PL_", "LOCAL_RANK", "WORLD_SIZE"))}
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MLFLOW_TRACKING_URI=tracking_uri, PYTHONPATH=python_path)
    env.update(extra)
    return env


def scale_pl_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "scale_pl", *args]


def run_cli(args: list[str], cwd: Path, tracking_uri: str | None = None, timeout: float = 300, **env: str):
    """``python -m scale_pl ARGS`` in ``cwd`` (MLflow store: ``cwd/mlflow.db`` unless given)."""
    return subprocess.run(
        scale_pl_command(args),
        cwd=cwd,
        env=cli_env(tracking_uri or sqlite_uri(cwd), **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runs(tracking_uri: str) -> list:
    """Every run of the ``scale_pl`` experiment (oldest first); none if the experiment does not exist."""
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    return sorted(client.search_runs([experiment.experiment_id]), key=lambda r: r.info.start_time)


def checkpoint_dir(cwd: Path, run_id: str) -> Path:
    """Where :class:`~scale_pl.cli.RunCheckpoint` writes the checkpoints of a run."""
    return cwd / "checkpoints" / run_id


@dataclass
class FitRun:
    """A finished ``fit``: its working directory, MLflow store and run id."""

    cwd: Path
    tracking_uri: str
    run_id: str
    stdout: str
    stderr: str

    @property
    def checkpoints(self) -> Path:
        return checkpoint_dir(self.cwd, self.run_id)
