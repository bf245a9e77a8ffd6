"""study/shifts.py and scale_pl.evaluation.shifts: the shifted test workloads, ratios to EFT, bad input."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from scale_pl.baselines import make_heuristic
from scale_pl.evaluation import shifts
from scale_pl.evaluation.across_n import Row
from scale_pl.evaluation.stats import iqm_interval
from scale_pl.seeds import TEST_SEED_BASE
from scale_pl.sim.generators.config import CONF_DIR, load_cluster_spec, load_generator, read_yaml

ROOT = CONF_DIR.parent
SCRIPT = ROOT / "study" / "shifts.py"
UNSEEN = {"tree_of_thought", "map_reduce"}


def _script():
    spec = importlib.util.spec_from_file_location("study_shifts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pattern_configs_split_the_patterns_and_keep_the_catalogue() -> None:
    default = read_yaml(CONF_DIR / "workload" / "default.yaml")
    seen = read_yaml(CONF_DIR / "workload" / "patterns_seen.yaml")
    unseen = read_yaml(shifts.PATTERNS_UNSEEN)
    for config in (seen, unseen):  # same catalogue and roles: a checkpoint of one runs on the other
        assert config["catalogue"] == default["catalogue"] and config["roles"] == default["roles"]
        assert set(config["pattern_mix"]) == set(default["pattern_mix"])
    assert {p for p, w in seen["pattern_mix"].items() if w == 0} == UNSEEN
    assert {p for p, w in unseen["pattern_mix"].items() if w > 0} == UNSEEN

    cluster = load_cluster_spec().make(8, load_generator().catalogue)
    test = load_generator(shifts.PATTERNS_UNSEEN, num_workflows=60).generate(cluster, TEST_SEED_BASE)
    assert {f.pattern for f in test.workflows} == UNSEEN
    train = load_generator(CONF_DIR / "workload" / "patterns_seen.yaml", num_workflows=200).generate(cluster, 0)
    assert not {f.pattern for f in train.workflows} & UNSEEN


def test_trace_workloads_cycle_every_trace_with_seeded_arrivals() -> None:
    source = shifts.TraceWorkloads(shifts.trace_paths(), workflows_per_server=2)
    traces = [f.id for f in source.traces]
    assert len(traces) == 6
    cluster = load_cluster_spec().make(4, source.catalogue)
    wl = source.generate(cluster, TEST_SEED_BASE)
    assert len(wl.workflows) == 8  # 2 x N
    per_trace = Counter(f.id.split("#")[0] for f in wl.workflows)
    assert set(per_trace) == set(traces) and sorted(per_trace.values()) == [1, 1, 1, 1, 2, 2]
    assert len({f.id for f in wl.workflows}) == 8
    arrivals = [f.arrival for f in wl.workflows]
    assert arrivals == sorted(arrivals) and arrivals[0] > 0
    again, other = source.generate(cluster, TEST_SEED_BASE), source.generate(cluster, TEST_SEED_BASE + 1)
    assert [(f.id, f.arrival) for f in again.workflows] == [(f.id, f.arrival) for f in wl.workflows]
    assert [f.arrival for f in other.workflows] != arrivals


def test_trace_arrival_rate_grows_with_capacity() -> None:
    # 3 workflows per server at N = 8 and 16: 24 and 48 traces, whole cycles of the 6, and the class
    # mix is exact at both sizes, so twice the capacity takes exactly twice the rate.
    source = shifts.TraceWorkloads(shifts.trace_paths(), workflows_per_server=3)
    spec = load_cluster_spec()
    r8, r16 = (source.arrival_rate(spec.make(n, source.catalogue)) for n in (8, 16))
    assert r16 == pytest.approx(2 * r8, rel=1e-12)
    assert source.rho == 0.7
    assert shifts.TraceWorkloads(shifts.trace_paths(), 3, rho=0.35).arrival_rate(
        spec.make(8, source.catalogue)
    ) == pytest.approx(r8 / 2, rel=1e-12)


def test_eft_relative_to_itself_is_exactly_one() -> None:
    policies = {n: (lambda n=n: make_heuristic(n)) for n in ("eft", "least_loaded")}
    rows = shifts.run_setting("wfinstances", policies, sizes=[2], seeds=[TEST_SEED_BASE], workflows_per_server=1)
    assert [(r.method, r.num_servers) for r in rows] == [("eft", 2), ("least_loaded", 2)]
    ratio = shifts.ratios(rows)
    assert ratio["eft", 2] == [1.0]
    assert ratio["least_loaded", 2] == [rows[1].art / rows[0].art]
    table = shifts.format_shift_table({"wfinstances": rows})
    assert f"| wfinstances | 2 | {rows[0].art:.2f} | 1.000 | {rows[1].art / rows[0].art:.3f} |" in table


def test_table_by_hand() -> None:
    def row(method: str, art: float, group: str = "") -> Row:
        return Row(method, 16, art, 0.0, 0.0, 0.0, 0.0, 1.0, group=group)

    rows = [row("s0", 9.0, "scale"), row("s1", 11.0, "scale"), row("eft", 10.0), row("rank_eft", 12.0)]
    table = shifts.format_shift_table({"load_0.5": rows}).splitlines()
    assert table[0] == "| setting | N | EFT ART (s) | scale / EFT | eft / EFT | rank_eft / EFT |"
    # scale: two runs, no per-workload values: IQM and bootstrap interval of the ratios 0.9 and 1.1
    scale = iqm_interval([0.9, 1.1])
    assert scale.iqm == pytest.approx(1.0) and (scale.low, scale.high) == pytest.approx((0.9, 1.1))
    cell = f"{scale.iqm:.3f} [{scale.low:.3f}, {scale.high:.3f}] (0.900, 1.100)"
    assert table[2] == f"| load_0.5 | 16 | 10.00 | {cell} | 1.000 | 1.200 |"
    assert shifts.shift_rows_to_json({"load_0.5": rows})[0]["setting"] == "load_0.5"


def test_bad_input_is_one_line_and_exit_code_2(capsys, tmp_path: Path) -> None:
    script = _script()
    assert script.main(["--settings", "load_0.5", "bogus"]) == 2
    assert (
        capsys.readouterr().err
        == "error: --settings: unknown setting 'bogus' (known: load_0.5, load_0.85, patterns, wfinstances)\n"
    )
    assert script.main(["--checkpoint", f"scale={tmp_path}/none_*.ckpt"]) == 2
    assert capsys.readouterr().err.strip().endswith("matches no file")
    done = subprocess.run([sys.executable, str(SCRIPT), "--settings", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: --settings: unknown setting 'nope'")
    assert len(done.stderr.strip().splitlines()) == 1
