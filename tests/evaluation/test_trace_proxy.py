"""study/trace_proxy.py: trace ratios, selection minima, the rank correlation and the seed choice."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from scale_pl.baselines.registry import make_heuristic
from scale_pl.sim.generators.config import CONF_DIR

SCRIPT = CONF_DIR.parent / "study" / "trace_proxy.py"


@pytest.fixture
def proxy(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("study_trace_proxy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def shift_row(method: str, n: int, art: float, group: str | None = None, setting: str = "wfinstances") -> dict:
    return {"setting": setting, "method": method, "group": group or method, "num_servers": n, "art": art}


@pytest.fixture
def results(tmp_path):
    rows = [shift_row("eft", 16, 100.0), shift_row("eft", 96, 50.0), shift_row("eft", 16, 10.0, setting="patterns"),
            shift_row("a_s0", 16, 150.0, "a"), shift_row("a_s0", 96, 40.0, "a"), shift_row("a_s1", 16, 90.0, "a"),
            shift_row("a_s1", 16, 1.0, "a", setting="patterns")]  # fmt: skip
    (tmp_path / "a_shifts.json").write_text(json.dumps(rows))
    select = {"rows": [{"run": "a_s0", "select": 0.95}, {"run": "a_s1", "select": 0.99}], "recommended": "a_s0"}
    (tmp_path / "a_selection.json").write_text(json.dumps(select))
    return tmp_path


def test_trace_ratios_per_member_and_n_from_the_trace_rows_only(proxy, results) -> None:
    assert proxy.trace_ratios("a", results) == {"a_s0": {16: 1.5, 96: 0.8}, "a_s1": {16: 0.9}}
    with pytest.raises(SystemExit, match="no trace rows of group 'b'"):
        proxy.trace_ratios("a:b", results)
    with pytest.raises(SystemExit, match="no such file"):
        proxy.trace_ratios("missing", results)


def test_selection_minima_from_every_selection_file(proxy, results) -> None:
    assert proxy.selection_minima(results) == {"a_s0": 0.95, "a_s1": 0.99}


def test_recommend_lowest_score_ties_by_name(proxy) -> None:
    assert proxy.recommend(["b", "a", "c"], {"a": 1.0, "b": 1.0, "c": 0.5}) == "c"
    assert proxy.recommend(["b", "a"], {"a": 1.0, "b": 1.0}) == "a"


def test_report_correlation_and_both_rules(proxy) -> None:
    rows = [
        {"method": f"a_s{i}", "val_select": select, "proxy": p, "traces": {16: t}}
        for i, (select, p, t) in enumerate([(0.90, 1.2, 1.6), (0.95, 1.0, 1.1), (0.97, 0.9, 1.0), (1.0, 0.95, 1.05)])
    ]
    text = proxy.report(rows, {"a": [r["method"] for r in rows]})
    assert "| a_s0 | 0.900 | 1.200 | 1.600 |" in text
    assert "Spearman, proxy vs traces N=16: rho +1.00" in text  # the proxy orders the traces exactly
    assert "Spearman, val/select vs traces N=16: rho -0.80" in text  # ranks 1234 vs 4132: 1 - 6*18/60
    # val/select alone picks a_s0 (0.90); the worst of both: max = 1.2, 1.0, 0.97, 1.0 -> a_s2
    assert "a: val/select recommends a_s0 (traces 1.600); the worst of val/select and the proxy " \
           "recommends a_s2 (traces 1.000)" in text  # fmt: skip


def test_proxy_of_eft_itself_is_one(proxy, tmp_path, monkeypatch) -> None:
    for name in ("e_s0", "l_s0"):
        (tmp_path / f"{name}.ckpt").write_bytes(b"")
    monkeypatch.setattr(
        proxy, "load_policy", lambda spec: make_heuristic("eft" if spec.endswith("e_s0.ckpt") else "least_loaded")
    )
    ratios = proxy.proxy_ratios(["e_s0", "l_s0"], str(CONF_DIR / "workload" / "diverse_varied.yaml"), 16, 1, tmp_path)
    assert ratios["e_s0"] == pytest.approx(1.0)
    assert ratios["l_s0"] > 0 and ratios["l_s0"] != pytest.approx(1.0)
    with pytest.raises(SystemExit, match="no such checkpoint"):
        proxy.proxy_ratios(["x_s0"], "conf/workload/diverse_varied.yaml", 16, 1, tmp_path)


def test_bad_input_exits_2(proxy, results, capsys) -> None:
    assert proxy.main(["missing", "--results", str(results)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert proxy.main(["a", "--results", str(results), "--seeds", "0"]) == 2
    assert proxy.main(["a", "--results", str(results), "--workload-config", "nope.yaml"]) == 2
