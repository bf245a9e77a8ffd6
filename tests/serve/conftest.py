"""Shared fixtures of the placement-service tests: small workloads and clusters as files, and a
service served in-process (uvicorn in a thread on 127.0.0.1, port 0)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scale_pl.client import PlacementClient
from scale_pl.io.cluster_file import write_cluster
from scale_pl.io.workload_file import write_workload
from scale_pl.serve.app import create_app
from scale_pl.serve.server import BackgroundServer, build_service
from scale_pl.sim.generators.config import load_cluster_spec, load_generator

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "pretrained" / "scale_s0.ckpt"
WFINSTANCES = REPO / "tests" / "data" / "wfinstances"


def write_setup(folder: Path, servers: int, seed: int, workflows: int) -> tuple[Path, Path]:
    """A generated workload (``workflows`` workflows, seed ``seed``) and its N-server cluster, as files."""
    generator = load_generator(None, num_workflows=workflows)
    cluster = load_cluster_spec(None).make(servers, generator.catalogue)
    folder.mkdir(parents=True, exist_ok=True)
    workload, cluster_path = folder / f"w{servers}_{seed}.json", folder / f"c{servers}.yaml"
    write_workload(generator.generate(cluster, seed), workload)
    write_cluster(cluster, cluster_path)
    return workload, cluster_path


@pytest.fixture(scope="session")
def setup16(tmp_path_factory) -> tuple[Path, Path]:
    return write_setup(tmp_path_factory.mktemp("setup16"), 16, 3, 25)


@contextlib.contextmanager
def served(cluster: Path, policy: str = "rank_eft", token: str | None = None, **kwargs):
    """A client of a fresh in-process service (memory state unless ``state=`` is given)."""
    service = build_service(cluster, policy, **kwargs)
    with BackgroundServer(create_app(service, token)) as server, PlacementClient(server.url, token=token) as client:
        client.service = service
        yield client


def same_schedule(replayed: dict, offline: dict) -> None:
    """Same server, ready, start and finish for every task, same metrics, float for float (both run
    the one-environment engine; ``schedule`` adds whether its run was censored: it must not be)."""
    assert len(replayed["tasks"]) == len(offline["tasks"])
    for a, b in zip(replayed["tasks"], offline["tasks"], strict=True):
        where = f"task {a['task']} of workflow {a['workflow']}"
        assert (a["workflow"], a["task"], a["type"]) == (b["workflow"], b["task"], b["type"])
        assert a["server"] == b["server"], f"{where}: server {a['server']} vs {b['server']}"
        for key in ("ready", "start", "finish"):
            assert a[key] == b[key], f"{where}: {key} {a[key]} vs {b[key]}"
    assert [w["id"] for w in replayed["workflows"]] == [w["id"] for w in offline["workflows"]]
    assert replayed["servers"] == offline["servers"]
    assert not offline["metrics"].get("censored", False)
    assert set(offline["metrics"]) - {"censored", "cap"} == set(replayed["metrics"])
    for key, value in replayed["metrics"].items():
        assert offline["metrics"][key] == value, key


def start_serve(*argv: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``python -m scale_pl serve ...`` (port 0 unless given) as a subprocess; returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "scale_pl", "serve", *([] if "--port" in argv else ["--port", "0"]), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        cwd=REPO,
    )
    line = proc.stdout.readline()  # "serving on http://127.0.0.1:PORT (...)"
    if not line.startswith("serving on "):
        proc.kill()
        raise AssertionError(f"serve did not start: {line!r} {proc.stderr.read()}")
    url = line.split()[2]
    deadline = time.monotonic() + 30
    with PlacementClient(url, retry_for=30) as client:
        while time.monotonic() < deadline:
            if client.health() == {"status": "ok"}:
                break
    return proc, url
