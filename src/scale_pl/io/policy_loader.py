"""Turning a ``--policy`` argument into a policy: a heuristic name or a trained checkpoint.

Whatever :func:`load_policy` returns follows the heuristics' protocol (``reset(batch_size)`` and
``__call__(obs) -> [B]`` server indices), so ``schedule`` runs a checkpoint and a heuristic alike.

A checkpoint can be anchored on a heuristic as it is loaded, with no retraining:
``PATH.ckpt@PRIOR[:KAPPA[:CLIP[:SHIELD[:DELAY]]]]``, e.g. ``pretrained/scale_s2.ckpt@eft:3:10`` gives
the logits ``-3 log(EFT_i / EFT_best) + 10 tanh(u_i)``, ``@eft:3:10:1.5`` also offers only the
servers whose believed finish is within 1.5x the earliest, and ``@eft:3:::30`` (the checkpoint's
bound, no factor shield) only those within 30 s of the earliest (:class:`Anchor`).

Several checkpoints joined by ``+`` (``a.ckpt+b.ckpt``; ``'runs/robust_s*.ckpt+'`` for every file
of a glob; an anchor suffix applies to every one) are one policy that votes: the greedy server of their mean
log-probabilities (:class:`~scale_pl.models.PolicyEnsemble`).
"""

from __future__ import annotations

import copy
import glob
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scale_pl.baselines import HEURISTICS, Policy, make_heuristic
from scale_pl.errors import ScaleError

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")
ANCHOR_PRIORS = ("none", "eft", "rank_eft")  # scale_pl.models.PRIORS, without importing torch here


@dataclass(frozen=True)
class Anchor:
    """A heuristic prior put under a trained pointer when it is loaded: ``logits = prior + residual``.

    Attributes:
        prior: ``"eft"``, ``"rank_eft"`` or ``"none"`` (:class:`~scale_pl.models.HeuristicPrior`).
        kappa: the prior's strength.
        clip: bound ``c`` of the residual, ``c tanh(u)``: the decoder's ``tanh_clip`` (0 or
            ``inf`` = unbounded; None keeps the checkpoint's).
        shield: only servers whose believed finish is within ``shield`` x the earliest are
            offered (>= 1; None = no shield).
        delay: only servers whose believed finish is at most ``delay`` seconds after the
            earliest are offered (>= 0; None = no delay shield).
    """

    prior: str = "eft"
    kappa: float = 3.0
    clip: float | None = None
    shield: float | None = None
    delay: float | None = None

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``PRIOR[:KAPPA[:CLIP[:SHIELD[:DELAY]]]]``, as in ``eft:3:10``, ``eft:3::1.5`` or ``eft:3:::30``
        (an empty CLIP keeps the checkpoint's, an empty SHIELD is none); a one-line
        :class:`ScaleError` if malformed."""
        prior, *fields = text.split(":")
        if prior not in ANCHOR_PRIORS or len(fields) > 4:
            form, priors = "PRIOR[:KAPPA[:CLIP[:SHIELD[:DELAY]]]]", ", ".join(ANCHOR_PRIORS)
            raise ScaleError(f"anchor {text!r}: expected {form} with PRIOR one of {priors}")
        try:
            values = [None if (x == "" and i in (1, 2)) else float(x) for i, x in enumerate(fields)]
        except ValueError:
            raise ScaleError(f"anchor {text!r}: KAPPA, CLIP, SHIELD and DELAY must be numbers") from None
        kappa = values[0] if values else cls.kappa
        if not 0 < kappa < math.inf:
            raise ScaleError(f"anchor {text!r}: KAPPA must be a finite number > 0")
        clip = values[1] if len(values) > 1 else None
        if clip is not None and (math.isnan(clip) or clip < 0):
            raise ScaleError(f"anchor {text!r}: CLIP must be >= 0 (0 or inf: unbounded)")
        shield = values[2] if len(values) > 2 else None
        if shield is not None and not 1 <= shield < math.inf:
            raise ScaleError(f"anchor {text!r}: SHIELD must be a finite number >= 1")
        delay = values[3] if len(values) > 3 else None
        if delay is not None and not 0 <= delay < math.inf:
            raise ScaleError(f"anchor {text!r}: DELAY must be a finite number of seconds >= 0")
        return cls(prior, kappa, clip, shield, delay)


def split_anchor(spec: str) -> tuple[str, str]:
    """``PATH@PRIOR[:KAPPA[:CLIP[:SHIELD[:DELAY]]]]`` as ``(PATH, "@PRIOR...")``; ``(spec, "")`` without an
    anchor suffix (an ``@`` followed by anything but a prior's name is part of the path)."""
    path_text, at, anchor_text = spec.rpartition("@")
    if at and anchor_text.split(":")[0] in ANCHOR_PRIORS:
        return path_text, at + anchor_text
    return spec, ""


def load_policy(spec: str, seed: int = 0) -> Policy:
    """The policy named by ``spec``: a heuristic (``eft``, ``random``, ...) or a checkpoint path.

    Args:
        spec: a name of :data:`~scale_pl.baselines.heuristics.HEURISTICS`, or a path to a
            checkpoint, optionally followed by ``@`` and an anchor (:meth:`Anchor.parse`), as in
            ``pretrained/scale_s2.ckpt@eft:3:10``.
        seed: seed of a stochastic policy (the ``random`` heuristic).
    """
    if spec in HEURISTICS:
        return make_heuristic(spec, seed)
    path_text, suffix = split_anchor(spec)
    anchor = Anchor.parse(suffix[1:]) if suffix else None
    members = ensemble_members(path_text)
    if members != [path_text]:  # joined by "+" (a glob of one file included)
        return load_ensemble_policy(members, anchor)
    path = Path(path_text)
    if path.suffix in CHECKPOINT_SUFFIXES or path.exists():
        if not path.is_file():
            raise ScaleError(f"{path}: no such checkpoint file")
        return load_checkpoint_policy(path, anchor)
    raise ScaleError(f"unknown policy {spec!r} (heuristics: {', '.join(HEURISTICS)}; or a path to a .ckpt file)")


def ensemble_members(path_text: str) -> list[str]:
    """The checkpoint files of ``A.ckpt+B.ckpt+...``: each part may be a glob (expanded in sorted
    order), and a trailing ``+`` makes one glob an ensemble (``'runs/robust_s*.ckpt+'``);
    ``[path_text]`` for one file, or for an existing file whose name holds a ``+``."""
    if "+" not in path_text or Path(path_text).exists():
        return [path_text]
    members = []
    parts = path_text.removesuffix("+").split("+")  # a trailing "+": the files of one glob vote
    for part in parts:
        if not part:
            raise ScaleError(f"ensemble {path_text!r}: an empty member (write A.ckpt+B.ckpt)")
        if any(c in part for c in "*?[") and not Path(part).exists():
            matches = sorted(glob.glob(part))
            if not matches:
                raise ScaleError(f"ensemble {path_text!r}: {part} matches no file")
            members += matches
        else:
            members.append(part)
    return members


def load_ensemble_policy(paths: list[str], anchor: Anchor | None = None) -> Policy:
    """The greedy policy of several checkpoints voting (:class:`~scale_pl.models.PolicyEnsemble`);
    ``anchor`` applies to every member."""
    from scale_pl.models.policy import GreedyPolicy, PolicyEnsemble

    members = []
    for path in paths:
        if Path(path).suffix not in CHECKPOINT_SUFFIXES and not Path(path).exists():
            raise ScaleError(f"ensemble member {path!r}: not a checkpoint file (.ckpt)")
        if not Path(path).is_file():
            raise ScaleError(f"{path}: no such checkpoint file")
        members.append(load_checkpoint_policy(path, anchor).policy)
    return GreedyPolicy(PolicyEnsemble(members))


def load_checkpoint_policy(path: str | Path, anchor: Anchor | None = None) -> Policy:
    """The greedy policy of a checkpoint written by ``python -m scale_pl fit``, on the CPU.

    The checkpoint's hyperparameters (the training config, class paths included) rebuild the
    :class:`~scale_pl.models.SCALEPolicy`; its state dict fills in the weights. A file that is
    not a checkpoint, or a checkpoint that does not describe a policy, is a one-line
    :class:`~scale_pl.errors.ScaleError` naming the file. ``anchor`` replaces the policy's prior
    (and bounds its residual) after loading: the post-hoc anchor of issue 18.
    """
    # Imported here: naming a heuristic should not pay for importing Lightning.
    from scale_pl.algos.module import SCALEModule
    from scale_pl.models.policy import GreedyPolicy
    from scale_pl.models.priors import HeuristicPrior

    path = Path(path)
    policy_config = _policy_config(path, _read_checkpoint(path))
    try:
        module = SCALEModule.load_from_checkpoint(path, map_location="cpu", policy=policy_config)
    except Exception as exc:  # jsonargparse, torch and Lightning raise many kinds; all mean "cannot rebuild"
        raise ScaleError(f"{path}: cannot rebuild the policy from this checkpoint ({_last_line(exc)})") from None
    policy = module.policy
    if anchor is not None:
        plain = anchor.prior == "none" and anchor.shield is None and anchor.delay is None
        prior = (
            None
            if plain
            else HeuristicPrior(anchor.prior, anchor.kappa, shield=anchor.shield, delay_shield=anchor.delay)
        )
        clip = None if anchor.clip is None else (0.0 if math.isinf(anchor.clip) else anchor.clip)
        policy.set_anchor(prior, clip)
    return GreedyPolicy(policy)


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
