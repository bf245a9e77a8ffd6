"""Turning a ``--policy`` argument into a policy: a heuristic name or a trained checkpoint.

Loading checkpoints is the training side's to complete: :func:`load_checkpoint_policy` is the one
place to change. Whatever it returns must follow the heuristics' protocol (``reset(batch_size)``
and ``__call__(obs) -> [B]`` server indices), so ``schedule`` runs it unchanged.
"""

from __future__ import annotations

from pathlib import Path

from scale_pl.baselines.heuristics import HEURISTICS, Policy, make_heuristic
from scale_pl.errors import ScaleError

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")


def load_policy(spec: str, seed: int = 0) -> Policy:
    """The policy named by ``spec``: a heuristic (``eft``, ``random``, ...) or a checkpoint path.

    Args:
        spec: a name of :data:`~scale_pl.baselines.heuristics.HEURISTICS` or a path to a checkpoint.
        seed: seed of a stochastic policy (the ``random`` heuristic).
    """
    if spec in HEURISTICS:
        return make_heuristic(spec, seed)
    path = Path(spec)
    if path.suffix in CHECKPOINT_SUFFIXES or path.exists():
        if not path.is_file():
            raise ScaleError(f"{path}: no such checkpoint file")
        return load_checkpoint_policy(path)
    raise ScaleError(f"unknown policy {spec!r} (heuristics: {', '.join(HEURISTICS)}; or a path to a .ckpt file)")


def load_checkpoint_policy(path: Path) -> Policy:
    """The trained policy stored in a Lightning checkpoint (not written yet)."""
    raise ScaleError(f"{path}: loading a trained policy checkpoint is not available yet (use a heuristic)")
