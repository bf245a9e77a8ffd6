"""``MLFLOW_TRACKING_URI=http://...``: a run goes to an MLflow tracking server instead of the local store."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import mlflow
import pytest

from scale_pl.evaluation.compare import method_label
from tests.training.fitting import (
    CHECKPOINT_CALLBACK,
    EXPERIMENT,
    FINAL_EVALUATION,
    checkpoint_dir,
    cli_env,
    fit_args,
    run_cli,
    runs,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"mlflow server at {url} not healthy after {timeout} s")


@pytest.fixture
def tracking_server(tmp_path):
    """``mlflow server`` on a free local port, its store and artifacts under ``tmp_path/server``."""
    root = tmp_path / "server"
    root.mkdir()
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'srv.db'}",
           "--default-artifact-root", str(root / "art"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with (root / "server.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=cli_env(""), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(url, proc, timeout=120)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow  # the server takes ~15 s to start
def test_fit_logs_to_a_tracking_server_and_compare_reads_it(tracking_server, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(fit_args(callbacks=[CHECKPOINT_CALLBACK, FINAL_EVALUATION]), work, tracking_uri=tracking_server)
    assert result.returncode == 0, result.stderr[-3000:]

    (run,) = runs(tracking_server)
    client = mlflow.MlflowClient(tracking_server)
    assert run.info.status == "FINISHED"
    assert {"train/approx_kl", "val/N16/art", "final/N16/scale_art", "final/N16/eft_art"} <= set(run.data.metrics)
    assert run.data.tags["encoder"] == "GINEncoder"
    assert {"config.yaml", "last", "best"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    # The server keeps the store and the artifacts; locally there are only the checkpoints.
    assert sorted(p.name for p in work.iterdir()) == ["checkpoints"]
    assert (checkpoint_dir(work, run.info.run_id) / "last.ckpt").is_file()

    # `compare --tracking-uri` reads the run back from the server (MLFLOW_TRACKING_URI points elsewhere).
    out = tmp_path / "compare"
    args = ["compare", "--experiment", EXPERIMENT, "--tracking-uri", tracking_server, "--out", str(out)]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "mlflow.db").exists()
    table = (out / "table.md").read_text()
    assert f"| {method_label(run.data.tags)} | 1 |" in table and "| eft | - |" in table
    for name in ("art_vs_n.png", "z_stats_vs_n.png"):
        assert (out / name).stat().st_size > 0
