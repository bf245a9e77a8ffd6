"""MLflow tracking: the embedded sqlite store by default, MLFLOW_TRACKING_URI when set."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "scale_pl"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded ``sqlite:///mlflow.db`` (never the ``file:`` store)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


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
