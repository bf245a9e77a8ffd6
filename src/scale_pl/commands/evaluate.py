"""Evaluate trained checkpoints and the heuristics across cluster sizes on the test workloads.

Example: ``python -m scale_pl evaluate --checkpoint checkpoints/<run>/best.ckpt --sizes 16 32 48 64``

Several checkpoints given the same name (``scale=a.ckpt scale=b.ckpt``, or ``'scale=runs/scale_s*.ckpt'``)
are the training seeds of one method: the table shows their interquartile mean and a stratified-bootstrap
95% interval. EFT runs first at each N; a run certain to exceed ``--cap`` x EFT's ART on a workload
stops there and is reported as censored.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from scale_pl.baselines import HEURISTICS, make_heuristic
from scale_pl.errors import ScaleError
from scale_pl.evaluation.across_n import DEFAULT_CAP, evaluate_across_n
from scale_pl.evaluation.tables import (
    format_diagnostics_table,
    format_notes,
    format_pattern_table,
    format_table,
    format_z_table,
    rows_to_json,
)
from scale_pl.io.atomic import check_writable, write_text_atomic
from scale_pl.io.policy_loader import load_policy, split_anchor
from scale_pl.seeds import TEST_SEED_BASE
from scale_pl.sim.batched.env import INFORMATION_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", nargs="*", default=[], metavar="[NAME=]PATH[@PRIOR[:KAPPA[:CLIP[:SHIELD[:DELAY]]]]]",
        help="trained policies (.ckpt), named by the file unless NAME= is given; one NAME for several files: seeds;"
        " @eft:3:10 anchors a checkpoint on a heuristic prior without retraining;"
        " A.ckpt+B.ckpt (or 'GLOB+') is one policy of several checkpoints voting",
    )  # fmt: skip
    parser.add_argument(
        "--heuristics", nargs="*", default=list(HEURISTICS), help="baselines to run too (also lookahead or lookahead:H)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48], help="cluster sizes N")
    parser.add_argument("--seeds", type=int, default=4, help=f"test workloads per N (seeds {TEST_SEED_BASE} + i)")
    parser.add_argument("--workflows-per-server", type=int, default=4, help="workflows per workload = this x N")
    parser.add_argument("--workload-config", default=None, help="workload YAML (default conf/workload/default.yaml)")
    parser.add_argument("--cluster-config", default=None, help="cluster YAML (default conf/cluster/default.yaml)")
    parser.add_argument("--rho", type=float, default=None, help="offered load (default: the config's)")
    parser.add_argument(
        "--information", choices=INFORMATION_MODES, default="expected",
        help="what the schedulers know of the servers' queues (default: expected; exact_queue is optimistic)",
    )  # fmt: skip
    add_cap_argument(parser)
    parser.add_argument("--json", default=None, help="also write the rows (one per run and N) to this JSON file")


def add_cap_argument(parser: argparse.ArgumentParser) -> None:
    """``--cap K`` (shared with `table`): censor runs certain to exceed K x EFT's ART."""
    parser.add_argument(
        "--cap", type=float, default=DEFAULT_CAP, metavar="K",
        help=f"stop a run once it is certain to exceed K x EFT's ART on its workload and report it as censored "
             f"(default {DEFAULT_CAP:g}; 0 = no cap)",
    )  # fmt: skip


def check_cap(cap: float) -> None:
    """A one-line error unless ``cap`` is 0 (off) or a finite K >= 1."""
    if not (cap == 0 or 1 <= cap < float("inf")):
        raise ScaleError(f"--cap must be 0 (no cap) or a number >= 1, got {cap:g}")


def run(args: argparse.Namespace) -> int:
    if any(n < 1 for n in args.sizes):
        raise ScaleError(f"--sizes: N must be >= 1, got {args.sizes}")
    if args.seeds < 1 or args.workflows_per_server < 1:
        raise ScaleError("--seeds and --workflows-per-server must be >= 1")
    if args.rho is not None and not args.rho > 0:
        raise ScaleError(f"--rho must be > 0, got {args.rho}")
    check_cap(args.cap)
    policies, groups = {}, {}
    for group, path in expand_checkpoints(args.checkpoint):
        policy = load_policy(path)  # fails early, one line, on a bad file
        policy.record_features = True  # z statistics per N
        name = checkpoint_name(path)
        if name in policies:
            raise ScaleError(f"--checkpoint: {path} is given twice (or two files have the name {name!r})")
        policies[name], groups[name] = (lambda policy=policy: policy), group or name
    for name in args.heuristics:
        make_heuristic(name)
        policies[name] = lambda name=name: make_heuristic(name)
    if not policies:
        raise ScaleError("nothing to evaluate: give --checkpoint and/or --heuristics")
    if args.json:
        check_writable(args.json, "--json")
    t0 = time.time()
    with tqdm(total=len(policies) * len(args.sizes), file=sys.stderr, unit="run", disable=None) as bar:

        def progress(label: str) -> None:
            bar.set_postfix_str(label)
            bar.update(1)

        rows = evaluate_across_n(policies, args.workload_config, args.cluster_config, args.sizes,
                                 range(TEST_SEED_BASE, TEST_SEED_BASE + args.seeds), args.workflows_per_server,
                                 args.rho, progress=progress, groups=groups, information=args.information,
                                 cap=args.cap)  # fmt: skip
    reference = "eft" if "eft" in args.heuristics else rows[0].group
    print(format_table(rows, reference=reference))
    if notes := format_notes(rows, reference=reference):
        print(f"\n{notes}")
    print(f"\nMean response time per DAG pattern (ratio to {reference.upper()}):\n")
    print(format_pattern_table(rows, reference=reference))
    if any(r.z for r in rows):
        print("\nThe attention feature z of the learned policies (SRR pulls it toward N(0, I)):\n")
        print(format_z_table(rows))
    if diagnostics := format_diagnostics_table(rows):
        print("\nDecision diagnostics of the learned policies (share of tied top scores, normalised entropy, z):\n")
        print(diagnostics)
    cap = f"cap {args.cap:g} x EFT" if args.cap else "no cap"
    print(f"\n{args.seeds} test workloads per N (seeds {TEST_SEED_BASE}..), information {args.information}, {cap}, "
          f"{time.time() - t0:.0f} s")  # fmt: skip
    if args.json:
        write_text_atomic(Path(args.json), json.dumps(rows_to_json(rows), indent=1))
    return 0


def expand_checkpoints(specs: list[str]) -> list[tuple[str, str]]:
    """``[NAME=]PATH`` arguments as (NAME or "", path) pairs; a PATH with ``*``, ``?`` or ``[`` is a glob
    (quoted on the command line, so that ``NAME=`` can precede it) and yields every file it matches.
    An anchor suffix (``PATH@eft:3:10``, see :func:`~scale_pl.io.policy_loader.load_policy`) applies to
    every file of the glob."""
    pairs = []
    for spec in specs:
        group, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path, anchor = split_anchor(path)
        if any(c in path for c in "*?[") and "+" not in path and not Path(path).exists():  # "+": an ensemble
            matches = sorted(glob.glob(path))
            if not matches:
                raise ScaleError(f"--checkpoint {path}: matches no file")
            pairs += [(group, m + anchor) for m in matches]
        else:
            pairs.append((group, path + anchor))
    return pairs


def checkpoint_name(spec: str | Path) -> str:
    """``best.ckpt`` / ``last.ckpt`` are named by their run folder, other files by their stem; an anchor
    suffix stays in the name (``scale_s2@eft:3:10``), so one file with and without it are two methods."""
    path_text, anchor = split_anchor(str(spec))
    if "+" in path_text and not Path(path_text).exists():  # an ensemble: its members' names
        return "+".join(checkpoint_name(part) for part in path_text.split("+") if part) + anchor
    path = Path(path_text)
    name = f"{path.parent.name}/{path.stem}" if path.stem in ("best", "last") else path.stem
    return name + anchor
