"""An empty MLflow store to copy, and one tiny training run through the real CLI shared by the tests that read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.fitting import (
    CHECKPOINT_CALLBACK,
    FINAL_EVALUATION,
    FitRun,
    copy_store,
    create_store,
    fit_args,
    run_cli,
    runs,
)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An empty sqlite MLflow store; give each CLI run its own copy (:func:`copy_store`)."""
    return create_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, empty_store) -> FitRun:
    """``fit`` for one tiny epoch at N=16 in a temporary folder (the final evaluation included)."""
    cwd = tmp_path_factory.mktemp("fit")
    uri = copy_store(empty_store, cwd)
    result = run_cli(fit_args(callbacks=[CHECKPOINT_CALLBACK, FINAL_EVALUATION]), cwd, uri)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = runs(uri)
    return FitRun(cwd, uri, run.info.run_id, result.stdout, result.stderr)
