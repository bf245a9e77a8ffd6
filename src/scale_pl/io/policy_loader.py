"""Turning a ``--policy`` argument into a policy: a heuristic name or a trained checkpoint.

Whatever :func:`load_policy` returns follows the heuristics' protocol (``reset(batch_size)`` and
``__call__(obs) -> [B]`` server indices), so ``schedule`` runs a checkpoint and a heuristic alike.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from scale_pl.baselines import HEURISTICS, Policy, make_heuristic
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


def load_checkpoint_policy(path: str | Path) -> Policy:
    """The greedy policy of a checkpoint written by ``python -m scale_pl fit``, on the CPU.

    The checkpoint's hyperparameters (the training config, class paths included) rebuild the
    :class:`~scale_pl.models.SCALEPolicy`; its state dict fills in the weights. A file that is
    not a checkpoint, or a checkpoint that does not describe a policy, is a one-line
    :class:`~scale_pl.errors.ScaleError` naming the file.
    """
    # Imported here: naming a heuristic should not pay for importing Lightning.
    from scale_pl.algos.module import SCALEModule
    from scale_pl.models.policy import GreedyPolicy

    path = Path(path)
    policy_config = _policy_config(path, _read_checkpoint(path))
    try:
        module = SCALEModule.load_from_checkpoint(path, map_location="cpu", policy=policy_config)
    except Exception as exc:  # jsonargparse, torch and Lightning raise many kinds; all mean "cannot rebuild"
        raise ScaleError(f"{path}: cannot rebuild the policy from this checkpoint ({_last_line(exc)})") from None
    return GreedyPolicy(module.policy)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a zip/pickle file, truncated, or holding more than tensors and plain data
        raise ScaleError(f"{path}: not a readable PyTorch checkpoint") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ScaleError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def _policy_config(path: Path, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The ``policy`` entry of the checkpoint's hyperparameters, with the linked ``in_dim`` restored.

    jsonargparse leaves link targets nested inside a subclass (``dag_encoder.init_args.in_dim``) out
    of the config that Lightning stores; it follows from ``task_dim`` (both count the task types).
    """
    from scale_pl.sim.system.observation import node_feature_dim, task_feature_dim

    config = (checkpoint.get("hyper_parameters") or {}).get("policy")
    if not isinstance(config, dict) or "class_path" not in config:
        raise ScaleError(f"{path}: the checkpoint holds no policy config (was it written by `python -m scale_pl fit`?)")
    config = copy.deepcopy(config)
    init_args = config.get("init_args") or {}
    encoder = init_args.get("dag_encoder")
    task_dim = init_args.get("task_dim")
    if isinstance(encoder, dict) and isinstance(task_dim, int):
        encoder_args = encoder.setdefault("init_args", {})
        encoder_args.setdefault("in_dim", node_feature_dim(task_dim - task_feature_dim(0)))
    return config


def _last_line(exc: BaseException) -> str:
    """The innermost line of a (possibly nested, multi-line) error message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


SHIPPED_KEYS = ("state_dict", "hyper_parameters", "pytorch-lightning_version", "epoch", "global_step")


def strip_checkpoint(src: str | Path, dst: str | Path, **record: Any) -> None:
    """Write ``src`` to ``dst`` with only what :func:`load_checkpoint_policy` and
    ``SCALEModule.load_from_checkpoint`` need (weights, hyperparameters) plus epoch and step: no
    optimizer or callback state, about a third of the size. ``record`` adds plain values (an MLflow
    run id). Written atomically.
    """
    import torch

    from scale_pl.io.atomic import staged_outputs

    checkpoint = _read_checkpoint(Path(src))
    small = {k: checkpoint[k] for k in SHIPPED_KEYS if k in checkpoint} | record
    with staged_outputs() as stage:
        stage(Path(dst), lambda tmp: torch.save(small, tmp))
