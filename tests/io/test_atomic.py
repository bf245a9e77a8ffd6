"""Atomic outputs: all targets appear together on success, none (and no temp file) on failure."""

from __future__ import annotations

import pytest

from scale_pl.errors import ScaleError
from scale_pl.io.atomic import check_writable, staged_outputs, write_text_atomic


def test_publish_together(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.png"
    b.write_text("old")
    with staged_outputs() as stage:
        stage(a, lambda tmp: tmp.write_text("A"))
        stage(b, lambda tmp: tmp.write_text("B"))
        assert not a.exists() and b.read_text() == "old"  # nothing published inside the block
    assert a.read_text() == "A" and b.read_text() == "B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.png"]
    assert a.stat().st_mode & 0o644 == 0o644


def test_failure_leaves_nothing(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.png"
    b.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError), staged_outputs() as stage:
        stage(a, lambda tmp: tmp.write_text("A"))
        stage(b, broken)
    assert not a.exists() and b.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png"]


def test_write_text_and_checks(tmp_path):
    write_text_atomic(tmp_path / "x.txt", "hi")
    assert (tmp_path / "x.txt").read_text() == "hi"
    with pytest.raises(ScaleError, match=r"--out .*: folder .* does not exist"):
        check_writable(tmp_path / "no" / "x.json", "--out")
    with pytest.raises(ScaleError, match="is a directory"):
        check_writable(tmp_path, "--out")


def test_os_errors_become_one_line_errors(tmp_path):
    def disk_full(tmp):
        raise OSError(28, "No space left on device")

    with (
        pytest.raises(ScaleError, match=r"x\.json: cannot write \(No space left on device\)"),
        staged_outputs() as stage,
    ):
        stage(tmp_path / "x.json", disk_full)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ScaleError, match=r"y\.json: cannot write"):
        write_text_atomic(tmp_path / "nowhere" / "y.json", "hi")
