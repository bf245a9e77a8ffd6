"""``python -m scale_pl generate``: seeded files that schedule exactly like the in-memory workload."""

from __future__ import annotations

import json

import pytest

from scale_pl.__main__ import main
from scale_pl.baselines import make_heuristic
from scale_pl.io.cluster_file import load_cluster
from scale_pl.io.workload_file import read_workload_file
from scale_pl.sim.generators.config import CONF_DIR, load_cluster_spec, load_generator
from scale_pl.sim.single.run import run_workload
from tests.io.validate_schedule import validate_schedule


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


N, SEED, K = 6, 4, 8


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    rc = main(["generate", "--out", str(folder / "w.json"), "--servers", str(N), "--seed", str(SEED),
               "--num-workflows", str(K), "--rho", "0.9", "--cluster-out", str(folder / "c.yaml")])  # fmt: skip
    assert rc == 0
    return folder


@pytest.mark.parametrize("policy", ["eft", "rank_eft", "random"])
def test_round_trip_schedules_bit_for_bit(generated, tmp_path, capsys, policy):
    """generate -> files -> schedule == scheduling the generated workload in memory."""
    generator = load_generator(num_workflows=K, rho=0.9)
    cluster = load_cluster_spec().make(N, generator.catalogue)
    workload = generator.generate(cluster, SEED)
    expected = run_workload(workload, cluster, make_heuristic(policy, seed=2), features=False).schedule
    out = tmp_path / "s.json"
    rc, _, err = cli(capsys, "schedule", "--workload", generated / "w.json", "--cluster", generated / "c.yaml",
                          "--policy", policy, "--seed", 2, "--cap", "none", "--out", out)  # fmt: skip
    assert rc == 0, err
    got = json.loads(out.read_text())
    assert got == expected  # every task's server, ready, start, finish; workflows; servers; metrics
    validate_schedule(generated / "w.json", generated / "c.yaml", got)


def test_files_hold_the_generated_workload_and_cluster(generated):
    generator = load_generator(num_workflows=K, rho=0.9)
    cluster = load_cluster_spec().make(N, generator.catalogue)
    workload = generator.generate(cluster, SEED)
    back = read_workload_file(generated / "w.json")
    assert [f.id for f in back.workflows] == [f.id for f in workload.workflows]
    for a, b in zip(workload.workflows, back.workflows, strict=True):
        assert a.arrival == b.arrival
        assert a.work.tobytes() == b.work.tobytes() and a.expected_work.tobytes() == b.expected_work.tobytes()
        assert (a.work != a.expected_work).any()  # actual and expected work both travel
    loaded = load_cluster(generated / "c.yaml", generator.catalogue)
    assert loaded.server_names == cluster.server_names
    assert (loaded.speed == cluster.speed).all() and (loaded.slots == cluster.slots).all()


def test_same_seed_same_bytes(generated, tmp_path, capsys):
    args = ["--servers", N, "--num-workflows", K, "--rho", 0.9]
    assert cli(capsys, "generate", "--out", tmp_path / "a.json", "--seed", SEED, *args)[0] == 0
    assert (tmp_path / "a.json").read_bytes() == (generated / "w.json").read_bytes()
    assert cli(capsys, "generate", "--out", tmp_path / "b.json", "--seed", SEED + 1, *args)[0] == 0
    assert (tmp_path / "b.json").read_bytes() != (generated / "w.json").read_bytes()


def test_cluster_out_json(tmp_path, capsys):
    rc, out, _ = cli(capsys, "generate", "--out", tmp_path / "w.json", "--servers", 3, "--seed", 0,
                     "--num-workflows", 2, "--cluster-out", tmp_path / "c.json")  # fmt: skip
    assert rc == 0 and "3 servers" in out
    assert (tmp_path / "c.json").read_text().lstrip().startswith("{")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--servers", "0"], "--servers must be >= 1"),
        (["--servers", "4", "--rho", "-1"], "rho must be > 0"),
        (["--servers", "4", "--workload-config", "{tmp}/typo.yaml"], "typo.yaml: workload config: "),
        (["--servers", "4", "--cluster-out", "{tmp}/nowhere/c.yaml"], "--cluster-out {tmp}/nowhere/c.yaml: folder"),
    ],
)
def test_bad_arguments(tmp_path, capsys, extra, message):
    (tmp_path / "typo.yaml").write_text((CONF_DIR / "workload" / "default.yaml").read_text() + "\nnum_workflow: 3\n")
    extra = [e.format(tmp=tmp_path) for e in extra]
    rc, _, err = cli(capsys, "generate", "--out", tmp_path / "w.json", "--seed", 0, *extra)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message.format(tmp=tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["typo.yaml"]
