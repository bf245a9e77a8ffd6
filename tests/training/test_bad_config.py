"""A bad training config fails before any work: exit code 2, a short message naming the item, no run."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.training.fitting import cli_env, copy_store, fit_args, runs, scale_pl_command, sqlite_uri

CASES = {
    "unknown-class-path": (["--model.policy.init_args.dag_encoder.class_path", "scale_pl.models.encoders.NopeEncoder"],
                           "NopeEncoder"),
    "wrong-type": (["--data.num_envs", "abc"], "data.num_envs"),
    "negative-lr": (["--model.lr", "-1"], "model.lr"),
    "zero-n": (["--data.train_sizes", "[0]"], "data.train_sizes"),
    "class-refuses-its-argument": (["--model.policy.init_args.decoder.init_args.normalize", "bogus"],
                                   "normalize must be one of"),
}  # fmt: skip
LIGHTNING_ARGS_WARNING = "LightningCLI's args parameter is intended to run from within Python"


@dataclass
class Outcome:
    cwd: Path
    returncode: int
    stderr: str


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, empty_store) -> dict[str, Outcome]:
    """``python -m scale_pl fit`` with each bad argument, each in its own folder, all started at once."""
    started = {}
    for case, (args, _) in CASES.items():
        cwd = tmp_path_factory.mktemp(case)
        stderr = (cwd.parent / f"{case}.stderr").open("w+")
        proc = subprocess.Popen(scale_pl_command(fit_args(*args)), cwd=cwd, env=cli_env(copy_store(empty_store, cwd)),
                                stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
        started[case] = (cwd, proc, stderr)
    done = {}
    for case, (cwd, proc, stderr) in started.items():
        try:
            code = proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr.seek(0)
        done[case] = Outcome(cwd, code, stderr.read())
        stderr.close()
    return done


@pytest.mark.parametrize("case", CASES)
def test_bad_config_fails_before_any_work(case, outcomes):
    outcome, item = outcomes[case], CASES[case][1]
    assert outcome.returncode == 2
    assert "Traceback" not in outcome.stderr
    assert "error: " in outcome.stderr and item in outcome.stderr, outcome.stderr[-2000:]
    assert sorted(p.name for p in outcome.cwd.iterdir()) == ["mlflow.db"]  # no checkpoints, no artifacts
    assert runs(sqlite_uri(outcome.cwd)) == []


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_message_is_one_line(case, outcomes):
    outcome, item = outcomes[case], CASES[case][1]
    # Progress lines of libraries (seed, MLflow store creation) may precede it; the message itself is one line.
    lines = [line for line in outcome.stderr.splitlines() if line.strip() and LIGHTNING_ARGS_WARNING not in line]
    assert lines[-1].startswith("error: ") and item in lines[-1], outcome.stderr[-2000:]
    assert len(lines) <= 4 and not any(line.startswith(" ") for line in lines), outcome.stderr[-2000:]
