"""study/zero_shot_check.py: whether the strict zero-shot rule chose another checkpoint."""

from __future__ import annotations

import importlib.util

import torch

from scale_pl.sim.generators.config import CONF_DIR

SCRIPT = CONF_DIR.parent / "study" / "zero_shot_check.py"


def _main():
    spec = importlib.util.spec_from_file_location("study_zero_shot_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _save(path, weight: float, epoch: int) -> None:
    torch.save({"state_dict": {"w": torch.full((2,), weight)}, "epoch": epoch, "global_step": 128 * epoch}, path)


def test_same_and_different_checkpoints(tmp_path, capsys) -> None:
    _save(tmp_path / "a_s0.ckpt", 1.0, 7)
    _save(tmp_path / "a_s0_zero_shot.ckpt", 1.0, 7)
    _save(tmp_path / "a_s1.ckpt", 1.0, 11)
    _save(tmp_path / "a_s1_zero_shot.ckpt", 2.0, 3)
    assert _main()([str(tmp_path / "a_s0_zero_shot.ckpt"), str(tmp_path / "a_s1_zero_shot.ckpt")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "a_s0: size-aware epoch 7 step 896, zero-shot epoch 7 step 896: the same checkpoint",
        "a_s1: size-aware epoch 11 step 1408, zero-shot epoch 3 step 384: different",
        "1 of 2 runs: the two rules chose the same checkpoint",
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    _save(tmp_path / "b.ckpt", 1.0, 1)
    assert _main()([str(tmp_path / "b.ckpt")]) == 2
    assert "not a NAME_zero_shot.ckpt file" in capsys.readouterr().err
    _save(tmp_path / "c_zero_shot.ckpt", 1.0, 1)
    assert _main()([str(tmp_path / "c_zero_shot.ckpt")]) == 2
    assert "c.ckpt: no such file" in capsys.readouterr().err
