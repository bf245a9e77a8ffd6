"""study/selection_history.py: each run's minimum, where it fell and the rise after it, from hand-made rows."""

from __future__ import annotations

import importlib.util
import json

import pytest

from scale_pl.sim.generators.config import CONF_DIR

SCRIPT = CONF_DIR.parent / "study" / "selection_history.py"


@pytest.fixture(scope="module")
def history():
    spec = importlib.util.spec_from_file_location("study_selection_history", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path, rows: list[dict]) -> str:
    path.write_text(json.dumps({"rows": rows, "recommended": rows[0]["run"]}))
    return str(path)


def test_minimum_position_rise_and_counts(history, tmp_path, capsys):
    # a: lowest at its 2nd of 4 validations (steps out of order in the file), ends 0.3 above it;
    # b: a tie at 0.9 goes to the earlier validation, ends 0.01 above (under the 0.02 margin).
    a = {"run": "a", "history": [[63, 0.9], [31, 1.0], [127, 1.2], [95, 1.1]]}
    b = {"run": "b", "history": [[31, 0.95], [63, 0.9], [95, 0.9], [127, 0.91]]}
    rows = {r["run"]: r for r in history.history_rows([write(tmp_path / "x.json", [a, b])])}
    assert rows["a"]["min"] == 0.9 and (rows["a"]["at"], rows["a"]["validations"]) == (2, 4)
    assert rows["a"]["rise"] == pytest.approx(0.3)
    assert rows["b"]["at"] == 2 and rows["b"]["rise"] == pytest.approx(0.01)
    assert history.main([str(tmp_path / "x.json")]) == 0
    out = capsys.readouterr().out
    assert "| a | 0.900 | 2 of 4 | 1.200 | +0.300 |" in out
    assert "1 of 2 runs ended more than 0.02 above their minimum; 2 of 2 reached it in the first half" in out


def test_a_run_in_two_files_counts_once_with_the_later_row(history, tmp_path):
    first = write(tmp_path / "1.json", [{"run": "a", "history": [[31, 1.0], [63, 1.1]]}])
    second = write(tmp_path / "2.json", [{"run": "a", "history": [[31, 1.0], [63, 0.8]]}])
    (row,) = history.history_rows([first, second])
    assert (row["min"], row["at"]) == (0.8, 2)


def test_a_row_without_history_is_a_one_line_error(history, tmp_path, capsys):
    path = write(tmp_path / "x.json", [{"run": "old", "select": 1.0}])
    with pytest.raises(SystemExit) as exit_:
        history.main([path])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: {path}: run 'old' has no val/select history\n"
