"""`python -m scale_pl evaluate` and `table` with the censoring cap: the table, the JSON, bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scale_pl.__main__ import main

SMALL = ["--sizes", "6", "--seeds", "2", "--workflows-per-server", "3"]


def test_cap_censors_runs_and_says_so_in_the_table_and_json(tmp_path: Path, capsys) -> None:
    """At K=1 a run is censored once it is certain to be slower than EFT: random always is here."""
    out = tmp_path / "rows.json"
    assert main(["evaluate", "--heuristics", "eft", "random", *SMALL, "--cap", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = {r["method"]: r for r in json.loads(out.read_text())}
    assert rows["eft"]["censored"] == [False, False] and rows["eft"]["num_censored"] == 0
    assert rows["random"]["censored"] == [True, True] and rows["random"]["num_censored"] == 2
    assert rows["random"]["utilisation"] is None and rows["random"]["cap"] == 1.0
    line = next(x for x in text.splitlines() if x.startswith("| 6 | random |"))
    assert line.startswith(f"| 6 | random | > {rows['random']['art']:.2f} |") and "| > 1 x EFT |" in line
    assert line.endswith("| 2/2 |")
    assert "2 of 4 runs were censored" in text and "cap 1 x EFT" in text


def test_no_cap_runs_every_episode_to_the_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "rows.json"
    assert main(["table", "--policies", "eft", "random", *SMALL, "--cap", "0", "--json", str(out)]) == 0
    rows = {r["method"]: r for r in json.loads(out.read_text())}
    assert rows["random"]["censored"] == [False, False] and rows["random"]["art"] > rows["eft"]["art"]
    assert "no cap" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["evaluate", "table"])
@pytest.mark.parametrize("value", ["0.5", "-1", "inf", "nan"])
def test_bad_cap_is_one_line(command: str, value: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rows.json"
    assert main([command, "--cap", value, "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --cap must be 0 (no cap) or a number >= 1") and err.count("\n") == 1
    assert not out.exists()


def test_an_anchor_suffix_names_its_own_method_and_follows_a_glob(tmp_path: Path) -> None:
    from scale_pl.commands.evaluate import checkpoint_name, expand_checkpoints

    for seed in (0, 1):
        (tmp_path / f"scale_s{seed}.ckpt").write_bytes(b"")
    pairs = expand_checkpoints([f"anchored={tmp_path}/scale_s*.ckpt@eft:3:10", f"{tmp_path}/scale_s0.ckpt"])
    assert pairs == [
        ("anchored", f"{tmp_path}/scale_s0.ckpt@eft:3:10"),
        ("anchored", f"{tmp_path}/scale_s1.ckpt@eft:3:10"),
        ("", f"{tmp_path}/scale_s0.ckpt"),
    ]
    assert [checkpoint_name(p) for _, p in pairs] == ["scale_s0@eft:3:10", "scale_s1@eft:3:10", "scale_s0"]
    assert checkpoint_name(Path("checkpoints/abc/best.ckpt")) == "abc/best"


def test_an_ensemble_spec_stays_one_method(tmp_path: Path) -> None:
    from scale_pl.commands.evaluate import checkpoint_name, expand_checkpoints

    spec = f"vote={tmp_path}/scale_s*.ckpt+@eft:3:10"
    assert expand_checkpoints([spec]) == [("vote", f"{tmp_path}/scale_s*.ckpt+@eft:3:10")]  # not globbed here
    assert checkpoint_name(f"{tmp_path}/a_s0.ckpt+{tmp_path}/a_s1.ckpt@eft:3:10") == "a_s0+a_s1@eft:3:10"
