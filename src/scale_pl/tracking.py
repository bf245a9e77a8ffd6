"""MLflow tracking: the embedded sqlite store by default, MLFLOW_TRACKING_URI when set."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "scale_pl"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded ``sqlite:///mlflow.db`` (never the ``file:`` store)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def prepare_store(uri: str, experiment: str | None = None, artifacts: str | None = None) -> None:
    """Create a local sqlite store's tables (and ``experiment``), one process at a time, before a run
    touches them.

    MLflow creates and migrates the sqlite schema on first contact, and two trainings started
    together on a new ``mlflow.db`` race there: each dies in its logger with ``table
    _alembic_tmp_metrics already exists`` or a failed alembic migration; two that both find the
    experiment missing race to create it. Under an exclusive lock (``store_lock``) the first
    process makes the tables and the experiment (its artifacts in ``artifacts``) and the others
    find them made. Other stores (a tracking server, a database of its own) manage themselves:
    nothing is done.
    """
    if not uri.startswith("sqlite:///"):
        return
    from filelock import FileLock
    from mlflow.tracking import MlflowClient

    from scale_pl.errors import ScaleError

    try:
        with FileLock(store_lock(uri)):
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
            if experiment is not None and client.get_experiment_by_name(experiment) is None:
                client.create_experiment(experiment, artifact_location=artifacts)
    except Exception as exc:  # sqlalchemy and MLflow raise many kinds; each means the store is unusable
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        raise ScaleError(f"MLflow store {uri}: {lines[0] if lines else type(exc).__name__}") from None


def store_lock(uri: str) -> Path:
    """The lock file that serialises first contact with a sqlite store: in the system's temporary
    folder, named by the database's absolute path, so that nothing is left beside the user's
    ``mlflow.db`` (a run that fails on its config leaves the folder as it found it) and every
    process that names the same file, by any relative path, takes the same lock."""
    path = Path(uri.removeprefix("sqlite:///")).resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"scale_pl-mlflow-{digest}.lock"


def artifact_location(uri: str) -> str | None:
    """Local stores keep artifacts in ``./mlartifacts`` (MLflow's default would be a stray ``./mlruns``);
    a tracking server decides for itself."""
    if uri.startswith("sqlite:"):
        return (Path.cwd() / "mlartifacts").as_uri()
    return None


def git_commit() -> str:
    """The working tree's commit (``unknown`` outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)  # fmt: skip
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def newest_finished_run_id(client, experiment_id: str, name: str) -> str | None:
    """The id of the newest FINISHED run named ``name`` in the experiment (None if there is none)."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.run_name = '{name}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None
