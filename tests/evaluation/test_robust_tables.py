"""study/robust_tables.py: the robustness study's tables from hand-made JSON rows, with hand values."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from scale_pl.sim.generators.config import CONF_DIR

SCRIPT = CONF_DIR.parent / "study" / "robust_tables.py"


@pytest.fixture
def tables(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("study_robust_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


def row(method: str, n: int, arts: list[float], p95: float, group: str | None = None) -> dict:
    return {"method": method, "group": group, "num_servers": n, "art": sum(arts) / len(arts), "p95": p95,
            "workload_art": arts, "num_censored": 0}  # fmt: skip


def write(tmp_path, arm: str, rows: list[dict]) -> None:
    (tmp_path / f"{arm}_sizes_small.json").write_text(json.dumps(rows))


@pytest.fixture
def study(tmp_path):
    eft = [row("eft", 16, [10.0, 20.0], 40.0), row("eft", 96, [10.0, 10.0], 20.0)]
    write(tmp_path, "base", [*eft,
        row("base_s0", 16, [9.0, 18.0], 36.0, "base"), row("base_s1", 16, [8.0, 16.0], 44.0, "base"),
        row("base_s0", 96, [9.0, 9.0], 18.0, "base"), row("base_s1", 96, [11.0, 11.0], 20.0, "base")])  # fmt: skip
    write(tmp_path, "abl", [*eft,
        row("abl_s0", 16, [10.5, 21.0], 40.0, "abl"), row("abl_s1", 16, [8.0, 16.0], 40.0, "abl"),
        row("abl_s1", 96, [12.0, 12.0], 20.0, "abl")])  # fmt: skip
    return tmp_path


def test_seed_of_reads_the_training_seed_of_plain_and_anchored_names(tables) -> None:
    assert tables.seed_of("robust_s1") == "s1"
    assert tables.seed_of("scale_s12@eft:3:10") == "s12"
    assert tables.seed_of("eft") == "eft"


def test_points_ratio_per_seed_and_p95(tables, study) -> None:
    found = {p.n: p for p in tables.points(tables.load_rows("base")[0], "base")}
    assert found[16].seeds == {"base_s0": pytest.approx(0.9), "base_s1": pytest.approx(0.8)}
    assert found[16].p95 == {"base_s0": pytest.approx(0.9), "base_s1": pytest.approx(1.1)}
    assert found[96].seeds == {"base_s0": pytest.approx(0.9), "base_s1": pytest.approx(1.1)}
    text = tables.targets(list(found.values()))
    assert "every seed below EFT everywhere: missed at rho 0.7 N=96 (base_s1 1.100)" in text
    assert "every seed's p95 no worse than EFT's: missed at rho 0.7 N=16 (1.100)" in text
    assert "(rho 0.7): missed at rho 0.7 N=96 (1.000 > 0.85)\n" in text  # N=16: IQM 0.850 <= 0.90


def test_a_mean_target_without_size_rows_is_not_measured_not_met(tables, study) -> None:
    found = [p for p in tables.points(tables.load_rows("base")[0], "base")]
    for p in found:
        p.setting = "rho 0.85"  # as if only the loads stage had run
    assert "(rho 0.7): not measured (no rho 0.7 size rows)" in tables.targets(found)


def test_paired_differences_by_seed(tables, study) -> None:
    lines = tables.paired("base", "abl").splitlines()
    assert lines[2] == "| rho 0.7 | 16 | 0.900 -> 1.050 | 0.800 -> 0.800 | +0.075 |"
    assert lines[3] == "| rho 0.7 | 96 |  | 1.100 -> 1.200 | +0.100 |"  # seed 0 of the ablation is missing


def test_ablations_one_column_each(tables, study) -> None:
    lines = tables.ablations("base:base", ["abl", "abl:abl"]).splitlines()
    assert lines[0] == "| setting | N | abl: mean (per seed) | abl: mean (per seed) |"
    assert lines[2] == "| rho 0.7 | 16 | +0.075 (+0.150 +0.000) | +0.075 (+0.150 +0.000) |"
    assert lines[3] == "| rho 0.7 | 96 | +0.100 (+0.100) | +0.100 (+0.100) |"


def test_no_shared_seed_or_no_rows_is_an_error(tables, study, tmp_path) -> None:
    write(tmp_path, "other", [row("eft", 16, [10.0, 20.0], 40.0), row("other_s7", 16, [9.0, 9.0], 9.0, "other")])
    with pytest.raises(SystemExit, match="share no training seed"):
        tables.ablations("base", ["other"])
    with pytest.raises(SystemExit, match="no rows of group 'nope'"):
        tables.paired("base", "nope")


def test_one_seed_has_no_interval(tables, study, tmp_path) -> None:
    write(tmp_path, "one", [row("eft", 16, [10.0, 20.0], 40.0), row("one_s0", 16, [9.0, 18.0], 36.0, "one")])
    line = tables.table(tables.points(tables.load_rows("one")[0], "one")).splitlines()[2]
    assert line.startswith("| rho 0.7 | 16 | 15.00 | 0.900 (one seed) | 0.900 | 0.900 | 0.900 |")


def test_families_ratio_each_seed_to_eft_per_trace_family(tables, tmp_path) -> None:
    def trace_row(method: str, n: int, sra: float, blast: float, group: str | None = None) -> dict:
        arts = {"wfformat:workflow-test": sra, "wfformat:makeflow-blast-small": blast}
        return row(method, n, [sra, blast], 1.0, group) | {"setting": "wfinstances", "pattern_art": arts}

    rows = [trace_row("eft", 16, 1000.0, 100.0), trace_row("a_s0", 16, 2000.0, 65.0, "a"),
            trace_row("a_s1", 16, 1000.0, 110.0, "a"), trace_row("eft", 96, 800.0, 50.0),
            trace_row("a_s0", 96, 400.0, 50.0, "a")]  # fmt: skip
    (tmp_path / "arm_shifts.json").write_text(json.dumps(rows))
    lines = tables.families(["arm:a"]).splitlines()
    assert lines[0] == "| N | family | a: per seed |"
    assert lines[2:] == [  # srasearch's workflow is named workflow-test in its WfFormat file
        "| 16 | blast | 0.650 1.100 |",
        "| 16 | srasearch | 2.000 1.000 |",
        "| 96 | blast | 1.000 |",
        "| 96 | srasearch | 0.500 |",
    ]
    with pytest.raises(SystemExit, match="no wfinstances rows of group 'b'"):
        tables.families(["arm:b"])
