"""Zero-shot generalisation of trained checkpoints beyond cluster size: ART relative to EFT.

    python study/shifts.py --checkpoint 'scale=pretrained/scale_s*.ckpt' --out study/shifts.md --json shifts.json

Settings (``--settings``, default all; the logic is in ``scale_pl.evaluation.shifts``):

* ``load_0.5``, ``load_0.85``: conf/workload/default.yaml at offered load rho 0.5 / 0.85 (trained at 0.7).
* ``patterns``: conf/workload/patterns_unseen.yaml, only tree_of_thought and map_reduce workflows, the
  patterns conf/workload/patterns_seen.yaml leaves out (train on that for a true pattern shift:
  ``python -m scale_pl fit --config conf/scale.yaml --data.workload_config conf/workload/patterns_seen.yaml``).
* ``wfinstances``: the WfCommons traces of tests/data/wfinstances (``--traces``) cycled to 4 x N workflows
  (``--workflows-per-server``), each trace equally often (+-1), in an order shuffled by the seed, with
  Poisson arrivals (``wfformat_arrivals``, same seed). Arrival-rate rule: the synthetic workloads' own,
  ``WorkloadGenerator.arrival_rate`` -- the rate that loads the busiest server class of the N-server cluster
  to rho = 0.7 (the default workload config's), with the expected work and task count per type and
  workflow taken as the means over the cycled traces. Capacity grows with N, so the rate grows in
  proportion and the load is the same at N = 16 and 64.

Every method runs on the same test workloads (seeds ``TEST_SEED_BASE + i``, i < ``--seeds``, as
``python -m scale_pl evaluate``): every checkpoint (``--checkpoint NAME=GLOB``; several files under one
NAME are its training seeds) and the heuristics eft, rank_eft and least_loaded. The table has one row per
(setting, N): EFT's ART, then per method the mean ART over the test workloads divided by EFT's (for a
method of several checkpoints: the interquartile mean [stratified-bootstrap 95% interval] and each seed's
value). Bad input: ``error: ...`` on
stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from scale_pl.errors import ScaleError

DEFAULT_SETTINGS = ("load_0.5", "load_0.85", "patterns", "wfinstances")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from scale_pl.sim.batched.env import INFORMATION_MODES

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--checkpoint", nargs="*", default=[], metavar="[NAME=]PATH",
        help="trained policies (.ckpt or a quoted glob); one NAME for several files: training seeds",
    )  # fmt: skip
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS), help="subset of: %(default)s")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64], help="cluster sizes N (default 16 64)")
    parser.add_argument("--seeds", type=int, default=8, help="test workloads per setting and N (default 8)")
    parser.add_argument("--workflows-per-server", type=int, default=4, help="workflows per workload = this x N")
    parser.add_argument("--cluster-config", default=None, help="cluster YAML (default conf/cluster/default.yaml)")
    parser.add_argument("--traces", nargs="+", default=None, help="trace files or globs of the wfinstances setting")
    parser.add_argument("--information", choices=INFORMATION_MODES, default="expected", help="default: expected")
    parser.add_argument("--out", default=None, help="write the markdown table here too (e.g. study/shifts.md)")
    parser.add_argument("--json", default=None, help="write the raw rows (one per setting, run and N) here")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from scale_pl.baselines import make_heuristic
    from scale_pl.commands.evaluate import checkpoint_name, expand_checkpoints
    from scale_pl.evaluation import shifts
    from scale_pl.io.atomic import check_writable, write_text_atomic
    from scale_pl.io.policy_loader import load_policy
    from scale_pl.seeds import TEST_SEED_BASE

    settings = shifts.check_settings(args.settings)
    if any(n < 1 for n in args.sizes):
        raise ScaleError(f"--sizes: N must be >= 1, got {args.sizes}")
    if args.seeds < 1 or args.workflows_per_server < 1:
        raise ScaleError("--seeds and --workflows-per-server must be >= 1")
    out = check_writable(args.out, "--out") if args.out else None
    json_out = check_writable(args.json, "--json") if args.json else None
    traces = shifts.trace_paths(args.traces or shifts.TRACES) if "wfinstances" in settings else []
    policies, groups = {}, {}
    for group, path in expand_checkpoints(args.checkpoint):
        policy = load_policy(path)  # fails early, one line, on a bad file
        name = checkpoint_name(path)
        if name in policies:
            raise ScaleError(f"--checkpoint: {path} is given twice (or two files have the name {name!r})")
        policies[name], groups[name] = (lambda policy=policy: policy), group or name
    for name in shifts.HEURISTICS:
        policies[name] = lambda name=name: make_heuristic(name)

    seeds = range(TEST_SEED_BASE, TEST_SEED_BASE + args.seeds)
    t0 = time.time()
    results = {}
    total = len(settings) * len(args.sizes) * len(policies)
    with tqdm(total=total, file=sys.stderr, unit="run", disable=None) as bar:

        def progress(label: str) -> None:
            bar.set_postfix_str(label)
            bar.update(1)

        for setting in settings:
            results[setting] = shifts.run_setting(
                setting, policies, args.sizes, seeds, args.workflows_per_server, groups=groups,
                information=args.information, cluster_config=args.cluster_config, traces=[str(p) for p in traces],
                progress=lambda label, s=setting: progress(f"{s} {label}"),
            )  # fmt: skip
    table = shifts.format_shift_table(results)
    footer = (
        f"ART / EFT ART on {args.seeds} test workloads per setting and N (seeds {TEST_SEED_BASE}..), "
        f"{args.workflows_per_server} workflows per server, information {args.information}; "
        f"checkpoints: {', '.join(args.checkpoint) or 'none'}."
    )
    print(table)
    print(f"\n{footer} {time.time() - t0:.0f} s")
    if out is not None:
        write_text_atomic(out, f"{table}\n\n{footer}\n")
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(shifts.shift_rows_to_json(results), indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(parse_args(argv))
    except ScaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
