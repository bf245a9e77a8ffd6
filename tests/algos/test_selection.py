"""Checkpoint selection with larger clusters in view: worst ratio to EFT over N, averaged over a window."""

from __future__ import annotations

import math

import pytest

from scale_pl.algos.selection import SizeAwareSelection


def test_the_figure_is_the_worst_ratio_averaged_over_the_window() -> None:
    s = SizeAwareSelection(window=2)
    assert s.update({16: 0.9, 64: 1.1}) == {"worst_ratio": 1.1, "select": 1.1}
    assert s.update({16: 0.95, 64: 1.0}) == pytest.approx({"worst_ratio": 1.0, "select": 1.05})
    # the window slides: the first validation no longer counts
    assert s.update({16: 0.8, 64: 0.9}) == pytest.approx({"worst_ratio": 0.9, "select": 0.95})


def test_one_lucky_validation_does_not_win_against_a_steady_policy() -> None:
    """A policy that is good at N=16 but collapses at N=128 is never preferred, and a single noisy dip
    weighs a third with window 3."""
    steady, lucky = SizeAwareSelection(3), SizeAwareSelection(3)
    for _ in range(3):
        steady.update({16: 0.92, 128: 0.95})
    lucky.update({16: 1.05, 128: 1.04})
    lucky.update({16: 1.04, 128: 1.06})
    dip = lucky.update({16: 0.80, 128: 0.85})
    assert dip["worst_ratio"] < 0.95 and dip["select"] > 0.95
    collapsed = SizeAwareSelection(1).update({16: 0.7, 128: 40.0})
    assert collapsed["select"] == 40.0


def test_a_policy_that_never_finished_is_infinitely_bad_and_the_state_round_trips() -> None:
    s = SizeAwareSelection(2)
    assert math.isinf(s.update({16: 0.9, 128: float("nan")})["worst_ratio"])
    restored = SizeAwareSelection(2)
    restored.load_state_dict(s.state_dict())
    assert restored.history == s.history
    with pytest.raises(ValueError):
        SizeAwareSelection(0)
    with pytest.raises(ValueError):
        s.update({})
