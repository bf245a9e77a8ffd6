"""The shipped checkpoints reproduce RESULTS.md: its evaluate command, on the test seeds.

N=16 runs in the default suite; the other sizes of the table with ``-m slow``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scale_pl.__main__ import main
from scale_pl.evaluation.stats import iqm, mean

REPO = Path(__file__).resolve().parents[2]
METHODS = {"scale": "pretrained/scale_s*.ckpt", "no_srr": "pretrained/no_srr_s*.ckpt"}
# The ART cell: "mean ± half-width" (the Student-t tables) or "IQM [low, high]", "> " for a lower bound;
# then the runs column, and the censored column in the newer tables.
ROW = re.compile(
    r"^\| (\d+) \| (scale|no_srr) \| (> )?([\d.]+) (± [\d.]+|\[[\d.]+, [\d.]+\]) \| .* \| (\d+) \|( [\d/-]+ \|)?$"
)


SECTION = "## Main result: SCALE and SCALE without SRR, 5 training seeds each"
SEEDS = 16  # test workloads per N, as in RESULTS.md's command


def results_table() -> dict[tuple[str, int], tuple[float, str, int]]:
    """(method, N) -> (ART, how: "mean", "iqm" or "lower bound", runs) from RESULTS.md's main table."""
    text = (REPO / "RESULTS.md").read_text()
    assert SECTION in text, f"RESULTS.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if m := ROW.match(line):
            how = "lower bound" if m.group(3) else "mean" if m.group(5).startswith("±") else "iqm"
            rows[m.group(2), int(m.group(1))] = (float(m.group(4)), how, int(m.group(6)))
    return rows


def test_results_md_has_the_table_of_every_shipped_method() -> None:
    rows = results_table()
    for method, pattern in METHODS.items():
        runs = len(list(REPO.glob(pattern)))
        assert runs >= 5, f"{pattern}: fewer than 5 shipped seeds"
        sizes = sorted(n for m, n in rows if m == method)
        assert sizes == [16, 32, 48, 64, 128]
        assert all(rows[method, n][2] == runs for n in sizes)


@pytest.mark.parametrize(
    "n", [16, *(pytest.param(n, marks=pytest.mark.slow) for n in (32, 48, 64, 128))], ids=lambda n: f"N{n}"
)
def test_shipped_checkpoints_reproduce_results_md(n: int, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # the checkpoints' config paths (conf/...) are relative to the repository
    out = tmp_path / "rows.json"
    checkpoints = [f"{method}={pattern}" for method, pattern in METHODS.items()]
    # --cap 0: RESULTS.md's table ran every episode to the end (collapsed no_srr seeds reach 111 x EFT)
    args = ["evaluate", "--checkpoint", *checkpoints, "--heuristics", "eft", "--sizes", str(n),
            "--seeds", str(SEEDS), "--cap", "0", "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    rows = json.loads(out.read_text())
    expected = results_table()
    for method in METHODS:
        members = [r for r in rows if r["group"] == method]
        want, how, runs = expected[method, n]
        got = mean([r["art"] for r in members]) if how == "mean" else iqm([r["workload_art"] for r in members])
        assert len(members) == runs
        if how == "lower bound":
            assert got >= want - 0.006, (method, n, got, want)
        else:
            assert abs(got - want) <= 0.006, (method, n, got, want)  # the table's 2 decimals


# pretrained/README.md's recommendation: the robust seeds voting under a 30 s delay shield
ENSEMBLE = "pretrained/robust_s*.ckpt+@eft:3:::30"
ENSEMBLE_ROWS = REPO / "study" / "results" / "robust_d30_sizes_small.json"  # RESULTS.md's rows of it (round 8)
ENSEMBLE_GROUP = "ens_d30"


def test_the_recommended_ensemble_reproduces_the_study_rows(tmp_path: Path, monkeypatch) -> None:
    """The shipped robust seeds, voting under the delay shield, give the ART of the study's rows at N=16
    (its 16 test workloads)."""
    assert f"--policy '{ENSEMBLE}'" in (REPO / "pretrained" / "README.md").read_text()  # the one it recommends
    monkeypatch.chdir(REPO)
    assert sorted(p.name for p in REPO.glob("pretrained/robust_s*.ckpt")) == [f"robust_s{s}.ckpt" for s in range(5)]
    study = {r["method"]: r for r in json.loads(ENSEMBLE_ROWS.read_text()) if r["num_servers"] == 16}
    want = next(r for r in study.values() if r["group"] == ENSEMBLE_GROUP)
    out = tmp_path / "rows.json"
    args = ["evaluate", "--checkpoint", f"ens={ENSEMBLE}", "--heuristics", "eft", "--sizes", "16",
            "--seeds", str(len(want["workload_art"])), "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    got = {r["method"]: r for r in json.loads(out.read_text())}
    ens = next(r for r in got.values() if r["group"] == "ens")
    assert abs(ens["art"] - want["art"]) <= 0.006, (ens["art"], want["art"])  # as the tables above
    assert ens["workload_art"] == pytest.approx(want["workload_art"], rel=1e-3)
    assert abs(got["eft"]["art"] - study["eft"]["art"]) <= 0.006
    assert ens["art"] / got["eft"]["art"] < 1.0  # below EFT at the training size, as RESULTS.md says
