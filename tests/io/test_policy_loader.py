"""``--policy``: heuristic names, checkpoint paths (not available yet), unknown names."""

from __future__ import annotations

import pytest

from scale_pl.baselines.heuristics import HEURISTICS, EarliestFinishTime, RandomPolicy
from scale_pl.errors import ScaleError
from scale_pl.io.policy_loader import load_policy


def test_heuristics_by_name():
    assert isinstance(load_policy("eft"), EarliestFinishTime)
    assert load_policy("random", seed=5).seed == 5
    assert isinstance(load_policy("random"), RandomPolicy)
    for name in HEURISTICS:
        load_policy(name)


def test_checkpoint_not_available_yet(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\0")
    with pytest.raises(ScaleError, match=r"model\.ckpt: loading a trained policy checkpoint is not available yet"):
        load_policy(str(ckpt))
    with pytest.raises(ScaleError, match=r"missing\.ckpt: no such checkpoint file"):
        load_policy(str(tmp_path / "missing.ckpt"))


def test_unknown_policy():
    with pytest.raises(ScaleError, match=r"unknown policy 'heft2' \(heuristics: random, round_robin"):
        load_policy("heft2")
