"""Nothing lost: with ``--state`` every accepted request is journalled before it is answered.

A service killed with SIGKILL in the middle of a replay and restarted on the same state file
carries on, and the replay (retrying with the same idempotency keys) ends with exactly the
schedule of an uninterrupted run.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import pytest

from scale_pl.client import PlacementClient
from scale_pl.errors import ScaleError
from scale_pl.io.cluster_file import load_cluster
from scale_pl.io.workload_sources import load_workload
from scale_pl.serve.replay import Replay
from scale_pl.serve.server import build_service
from tests.serve.conftest import same_schedule, served, start_serve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigkill_mid_replay_then_restart_loses_nothing(setup16, tmp_path):
    workload_path, cluster_path = setup16
    workload = load_workload([workload_path])
    cluster = load_cluster(cluster_path, workload.catalogue)
    with served(cluster_path) as client:
        uninterrupted = Replay(workload, cluster, client).run()

    state, port = tmp_path / "state.db", str(free_port())
    argv = ("--cluster", str(cluster_path), "--policy", "rank_eft", "--state", str(state), "--port", port)
    proc, url = start_serve(*argv)  # a fixed port: the restarted service must be where the client looks
    outcome: dict = {}
    with PlacementClient(url, retry_for=60) as client:
        replay = Replay(workload, cluster, client)
        thread = threading.Thread(target=lambda: outcome.update(schedule=replay.run()), daemon=True)
        thread.start()
        while replay.requests < 120 and thread.is_alive():
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # no chance to flush or say goodbye
        proc.wait()
        killed_at = replay.requests
        time.sleep(0.3)  # the replay is now retrying against nothing
        proc, _ = start_serve(*argv)
        try:
            thread.join(timeout=120)
            metrics = client.metrics()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert "schedule" in outcome, "the replay did not finish"
    assert 120 <= killed_at < replay.requests, "the kill did not happen mid-replay"
    assert client.retries > 0
    assert metrics["recovered_requests"] > 0
    assert metrics["decisions"] == workload.num_tasks  # nothing decided twice
    same_schedule(outcome["schedule"], uninterrupted)


def test_a_restart_rebuilds_the_same_state(setup16, tmp_path):
    workload_path, cluster_path = setup16
    workload = load_workload([workload_path])
    cluster = load_cluster(cluster_path, workload.catalogue)
    state = tmp_path / "state.db"
    with served(cluster_path, state=state) as client:
        first = Replay(workload, cluster, client).run()
        before = client.metrics()
        flows = [client.workflow(f.id) for f in workload.workflows]
    restarted = build_service(cluster_path, "rank_eft", state=state)
    after = restarted.metrics()
    assert after["recovered_requests"] == len(restarted.journal) > 0
    for key in ("clock", "decisions", "workflows", "art", "response_time_percentiles"):
        assert after[key] == before[key], key
    assert [restarted.workflow(f.id) for f in workload.workflows] == flows
    # A replay started again from scratch (same idempotency keys) gets the first answers again.
    with served(cluster_path, state=state) as client:
        again = Replay(workload, cluster, client).run()
        assert client.metrics()["decisions"] == workload.num_tasks
    assert json.dumps(again) == json.dumps(first)


def test_a_state_file_refuses_another_configuration(setup16, tmp_path):
    state = tmp_path / "state.db"
    build_service(setup16[1], "rank_eft", state=state)
    with pytest.raises(ScaleError, match=r"another configuration .*'policy'"):
        build_service(setup16[1], "eft", state=state)


def test_a_file_that_is_not_a_state_file(setup16, tmp_path):
    bogus = tmp_path / "state.db"
    bogus.write_text("not sqlite at all " * 100)
    with pytest.raises(ScaleError, match="not a scale_pl state file"):
        build_service(setup16[1], "rank_eft", state=bogus)


def test_without_state_the_service_lives_in_memory(setup16):
    service = build_service(setup16[1], "rank_eft")
    assert service.journal is None and service.info["state"] == "memory"
