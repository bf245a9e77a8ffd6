"""Ctrl-C during ``fit``: a usable ``last.ckpt`` and an MLflow run that is closed, not left RUNNING."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from scale_pl.io.policy_loader import load_checkpoint_policy
from scale_pl.sim.batched.batch import workload_batch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from tests.training.fitting import (
    CHECKPOINT_CALLBACK,
    ROLLOUTS_PER_EPOCH,
    STEPS_PER_ROLLOUT,
    checkpoint_dir,
    cli_env,
    copy_store,
    fit_args,
    runs,
    scale_pl_command,
    sqlite_uri,
)

STEPS_PER_EPOCH = ROLLOUTS_PER_EPOCH * STEPS_PER_ROLLOUT


@dataclass
class Interrupted:
    cwd: Path
    returncode: int
    output: str  # stdout + stderr
    stderr: str
    paused_at_step: int


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, empty_store) -> Interrupted:
    """A 3-epoch fit held still after the first batch of epoch 1, then sent SIGINT."""
    cwd = tmp_path_factory.mktemp("interrupt")
    marker = cwd / "paused.json"
    pause = {"class_path": "tests.training.probes.PauseAt", "init_args": {"marker": str(marker), "epoch": 1}}
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:  # files, not pipes: a full pipe would stall the fit
        proc = subprocess.Popen(
            scale_pl_command(fit_args(max_epochs=3, callbacks=[CHECKPOINT_CALLBACK, pause])),
            cwd=cwd,
            env=cli_env(copy_store(empty_store, cwd)),
            stdout=stdout,
            stderr=stderr,
            # A shell's background job inherits SIGINT ignored, and Python then never raises
            # KeyboardInterrupt: give the fit the default disposition whatever started pytest.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 180
            while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert marker.exists(), f"training never reached the pause (exit code {proc.poll()}):\n{err.read_text()}"
            proc.send_signal(signal.SIGINT)
            returncode = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    paused_at = json.loads(marker.read_text())["global_step"]
    return Interrupted(cwd, returncode, out.read_text() + err.read_text(), err.read_text(), paused_at)


def test_ctrl_c_ends_the_run_and_leaves_a_usable_last_checkpoint(interrupted):
    assert interrupted.returncode == 1  # Lightning's graceful shutdown exits with 1
    assert "Detected KeyboardInterrupt, attempting graceful shutdown" in interrupted.output
    assert "Traceback" not in interrupted.stderr

    (run,) = runs(sqlite_uri(interrupted.cwd))
    assert run.info.status == "FAILED" and run.info.end_time is not None

    last = checkpoint_dir(interrupted.cwd, run.info.run_id) / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert interrupted.paused_at_step == STEPS_PER_EPOCH + STEPS_PER_ROLLOUT  # one batch into epoch 1
    assert (state["global_step"], state["epoch"]) == (interrupted.paused_at_step, 1)

    policy = load_checkpoint_policy(last)
    generator = load_generator(num_workflows=4)
    env = SchedulingEnv(workload_batch(generator, load_cluster_spec(), 16, [7]))
    run_episode(env, policy)
    assert bool(env.done.all()) and torch.isfinite(env.metrics()["art"]).all()


def test_ctrl_c_keeps_the_best_checkpoint(interrupted):
    (run,) = runs(sqlite_uri(interrupted.cwd))
    best = torch.load(checkpoint_dir(interrupted.cwd, run.info.run_id) / "best.ckpt", weights_only=True)
    assert best["global_step"] == STEPS_PER_EPOCH  # epoch 0 is the only validated epoch
