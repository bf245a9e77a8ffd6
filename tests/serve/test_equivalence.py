"""The heart of the service: replaying a workload through HTTP gives exactly the offline schedule.

For EFT, rank-aware EFT and a shipped checkpoint, on generated workloads and on WfInstances
traces (all arriving at once: ties broken by arrival order), every task lands on the same server
with the same ready, start and finish times as ``python -m scale_pl schedule`` computes.
"""

from __future__ import annotations

import json

import pytest

from scale_pl.__main__ import main
from scale_pl.io.cluster_file import load_cluster, write_cluster
from scale_pl.io.workload_sources import load_catalogue, load_workload
from scale_pl.serve.replay import Replay, public_spec
from scale_pl.sim.generators.config import load_cluster_spec
from tests.serve.conftest import CHECKPOINT, WFINSTANCES, same_schedule, served, start_serve, write_setup

TRACES = ["blast-chameleon-small-001.json", "epigenomics-chameleon-hep-1seq-100k-001.json",
          "helloworld-forkjoin-10-chameleon.json", "srasearch-chameleon-10a-001.json",
          "helloworld-chain-5-chameleon.json"]  # fmt: skip


def offline(workload_paths, cluster_path, policy: str, tmp_path, capsys, *extra) -> dict:
    out = tmp_path / f"offline-{len(list(tmp_path.iterdir()))}.json"
    rc = main(["schedule", "--workload", *map(str, workload_paths), "--cluster", str(cluster_path),
               "--policy", policy, "--out", str(out), *extra])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    return json.loads(out.read_text())


@pytest.mark.parametrize("policy", ["eft", "rank_eft", str(CHECKPOINT)])
def test_replay_equals_schedule_on_a_generated_workload(policy, setup16, tmp_path, capsys):
    workload_path, cluster_path = setup16
    workload = load_workload([workload_path])
    cluster = load_cluster(cluster_path, workload.catalogue)
    with served(cluster_path, policy) as client:
        replayed = Replay(workload, cluster, client).run()
        metrics = client.metrics()
    same_schedule(replayed, offline([workload_path], cluster_path, policy, tmp_path, capsys))
    assert metrics["decisions"] == workload.num_tasks
    assert metrics["workflows"] == {"submitted": 25, "in_system": 0, "completed": 25}
    assert metrics["art"] == pytest.approx(replayed["metrics"]["avg_response_time"], rel=1e-12)


def test_replay_equals_schedule_at_64_servers_with_the_checkpoint(tmp_path, capsys):
    workload_path, cluster_path = write_setup(tmp_path / "in", 64, 5, 12)
    workload = load_workload([workload_path])
    with served(cluster_path, str(CHECKPOINT)) as client:
        replayed = Replay(workload, load_cluster(cluster_path, workload.catalogue), client).run()
    same_schedule(replayed, offline([workload_path], cluster_path, str(CHECKPOINT), tmp_path, capsys))


@pytest.mark.parametrize("policy", ["rank_eft", str(CHECKPOINT)])
def test_replay_equals_schedule_on_wfinstances_traces(policy, tmp_path, capsys):
    """Real traces (5 to 52 tasks, large outputs), all arriving at 0: the tie-break is the order given."""
    traces = [WFINSTANCES / name for name in TRACES]
    cluster_path = tmp_path / "c.yaml"
    write_cluster(load_cluster_spec().make(6, load_catalogue()), cluster_path)
    workload = load_workload(traces)
    assert len({f.arrival for f in workload.workflows}) == 1
    with served(cluster_path, policy) as client:
        replayed = Replay(workload, load_cluster(cluster_path, workload.catalogue), client).run()
    same_schedule(replayed, offline(traces, cluster_path, policy, tmp_path, capsys))


def test_the_service_never_sees_the_actual_work(setup16):
    workload = load_workload([setup16[0]])
    f = workload.workflows[0]
    assert (f.work != f.expected_work).any()
    spec = public_spec(workload, 0)
    assert [t["work"] for t in spec["tasks"]] == f.expected_work.tolist()
    assert all("expected_work" not in t for t in spec["tasks"])


def test_replay_command_against_a_serve_subprocess(tmp_path, capsys):
    """The two commands end to end: ``serve`` in its own process, ``replay`` through the CLI."""
    workload_path, cluster_path = write_setup(tmp_path / "in", 8, 7, 10)
    proc, url = start_serve("--cluster", str(cluster_path), "--policy", "rank_eft")
    try:
        out = tmp_path / "replayed.json"
        rc = main(["replay", "--workload", str(workload_path), "--cluster", str(cluster_path), "--url", url,
                   "--out", str(out)])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        assert "replayed against" in capsys.readouterr().out
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    same_schedule(json.loads(out.read_text()), offline([workload_path], cluster_path, "rank_eft", tmp_path, capsys))
