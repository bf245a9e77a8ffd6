"""Print each heuristic's ART across cluster sizes, as a ratio to EFT and to the lower bound.

Example: ``python -m scale_pl table --sizes 16 32 48 --seeds 4``
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from scale_pl.baselines import HEURISTICS, make_heuristic
from scale_pl.commands.evaluate import add_cap_argument, check_cap
from scale_pl.errors import ScaleError
from scale_pl.evaluation.across_n import evaluate_across_n
from scale_pl.evaluation.tables import format_notes, format_table, rows_to_json
from scale_pl.io.atomic import check_writable, write_text_atomic
from scale_pl.sim.batched.env import INFORMATION_MODES
from scale_pl.sim.generators.config import load_generator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload-config", default=None, help="workload YAML (default conf/workload/default.yaml)")
    parser.add_argument("--cluster-config", default=None, help="cluster YAML (default conf/cluster/default.yaml)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48], help="cluster sizes N")
    parser.add_argument("--seeds", type=int, default=4, help="workloads per N (seeds 10000, 10001, ...)")
    parser.add_argument("--rho", type=float, default=None, help="offered load (default: the config's)")
    parser.add_argument("--workflows-per-server", type=int, default=10, help="workflows per workload = this x N")
    parser.add_argument("--policies", nargs="+", default=list(HEURISTICS), help="heuristics to run")
    parser.add_argument(
        "--information", choices=INFORMATION_MODES, default="expected",
        help="what the schedulers know of the servers' queues (default: expected; exact_queue is optimistic)",
    )  # fmt: skip
    add_cap_argument(parser)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")


def run(args: argparse.Namespace) -> int:
    if any(n < 1 for n in args.sizes):
        raise ScaleError(f"--sizes: N must be >= 1, got {args.sizes}")
    if args.rho is not None and not args.rho > 0:
        raise ScaleError(f"--rho must be > 0, got {args.rho}")
    if args.seeds < 1 or args.workflows_per_server < 1:
        raise ScaleError("--seeds and --workflows-per-server must be >= 1")
    check_cap(args.cap)
    for name in args.policies:
        make_heuristic(name)
    if args.json:
        check_writable(args.json, "--json")
    t0 = time.time()
    policies = {name: (lambda name=name: make_heuristic(name)) for name in args.policies}
    rows = evaluate_across_n(policies, args.workload_config, args.cluster_config, args.sizes,
                             range(10_000, 10_000 + args.seeds), args.workflows_per_server, args.rho,
                             progress=lambda s: print(f"  {s}", file=sys.stderr),
                             information=args.information, cap=args.cap)  # fmt: skip
    rho = args.rho if args.rho is not None else load_generator(args.workload_config).rho
    print(format_table(rows))
    if notes := format_notes(rows):
        print(f"\n{notes}")
    cap = f"cap {args.cap:g} x EFT" if args.cap else "no cap"
    print(f"\n{args.seeds} workloads per N, rho {rho}, information {args.information}, {cap}, {time.time() - t0:.0f} s")
    if args.json:
        write_text_atomic(args.json, json.dumps(rows_to_json(rows), indent=1))
    return 0
