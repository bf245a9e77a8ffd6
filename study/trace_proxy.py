"""Would a trace-like validation set have told which checkpoints lose on the real traces? (issue 18)

    python study/trace_proxy.py robust abl_nosrr abl_noanchor ... [--workload-config FILE] [--json OUT]

Each ARM[:GROUP] names the test rows of study/robust.sh (study/results/ARM_shifts.json) and the
checkpoints of that method's training seeds (study/results/ckpt/METHOD.ckpt). Every checkpoint is
run, beside EFT, on *validation* workloads (seeds 1,000,000 + 1000 N + i, as the training
selection draws them; no test workload) of a trace-like synthetic mix, by default
conf/workload/diverse_varied.yaml: tool-call stages and a per-workflow work factor per type, the
mix built after the srasearch loss. For each checkpoint the script prints that ratio to EFT (the
proxy), its training run's ``val/select`` minimum (the figure the checkpoint and the seed were
chosen by; from study/results/*_selection.json), and its test ratio to EFT on the WfInstances
traces; then the Spearman rank correlation (scipy.stats.spearmanr) of each figure with the trace
ratio, and, for each arm, which seed each rule would recommend: ``val/select`` alone, or the worst
of ``val/select`` and the proxy (the size-aware rule with the proxy as one more validation point).

A correlation here says whether choosing with a trace-like validation point in view would move the
recommendation away from the seeds that lose on traces, without looking at a trace. srasearch is
not zero-shot for the default proxy (its failure motivated the varied mix; RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from scale_pl.baselines.registry import make_heuristic
from scale_pl.evaluation.across_n import evaluate_across_n
from scale_pl.io.policy_loader import load_policy
from scale_pl.seeds import VAL_SEED_BASE

STUDY = Path(__file__).resolve().parent
RESULTS = STUDY / "results"
CHECKPOINTS = RESULTS / "ckpt"
TRACES = "wfinstances"


def trace_ratios(spec: str, results: Path = RESULTS) -> dict[str, dict[int, float]]:
    """Each member's ART / EFT's ART on the traces, by N, from ``ARM_shifts.json`` (``ARM[:GROUP]``)."""
    arm, _, group = spec.partition(":")
    path = results / f"{arm}_shifts.json"
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (run study/robust.sh {arm} shifts first)")
    rows = [r for r in json.loads(path.read_text()) if r["setting"] == TRACES]
    eft = {r["num_servers"]: r["art"] for r in rows if r["method"] == "eft"}
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        if r.get("group") == (group or arm) and r["num_servers"] in eft:
            out.setdefault(r["method"], {})[r["num_servers"]] = r["art"] / eft[r["num_servers"]]
    if not out:
        raise SystemExit(f"error: no trace rows of group {group or arm!r} in {path}")
    return out


def selection_minima(results: Path = RESULTS) -> dict[str, float]:
    """Every run's ``val/select`` minimum from the ``*_selection.json`` rows of study/recommend.py."""
    minima: dict[str, float] = {}
    for path in sorted(results.glob("*_selection*.json")):
        for row in json.loads(path.read_text())["rows"]:
            minima.setdefault(row["run"], row["select"])
    return minima


def proxy_ratios(methods: list[str], workload_config: str, n: int, seeds: int, checkpoints: Path) -> dict[str, float]:
    """Each checkpoint's mean ART / EFT's ART on ``seeds`` validation workloads of ``workload_config`` at N=n."""
    policies = {"eft": lambda: make_heuristic("eft")}
    for method in methods:
        path = checkpoints / f"{method}.ckpt"
        if not path.is_file():
            raise SystemExit(f"error: {path}: no such checkpoint (study/export_checkpoints.py writes them)")
        policy = load_policy(str(path))
        policies[method] = lambda policy=policy: policy
    rows = evaluate_across_n(policies, workload_config, None, [n], range(VAL_SEED_BASE + 1000 * n,
                             VAL_SEED_BASE + 1000 * n + seeds), workflows_per_server=4)  # fmt: skip
    by_method = {r.method: r for r in rows}
    eft = np.asarray(by_method["eft"].workload_art)
    return {m: float(np.mean(np.asarray(by_method[m].workload_art) / eft)) for m in methods}


def recommend(members: list[str], score: dict[str, float]) -> str:
    """The member with the lowest score (ties: the first in name order)."""
    return min(sorted(members), key=lambda m: score[m])


def report(rows: list[dict], arms: dict[str, list[str]]) -> str:
    sizes = sorted({n for r in rows for n in r["traces"]})
    lines = [
        "| checkpoint | val/select (min) | proxy: ART / EFT | " + " | ".join(f"traces N={n}" for n in sizes) + " |",
        "|---|---:|---:|" + "---:|" * len(sizes),
    ]
    for r in rows:
        select = "" if r["val_select"] is None else f"{r['val_select']:.3f}"
        traces = " | ".join(f"{r['traces'][n]:.3f}" if n in r["traces"] else "" for n in sizes)
        lines.append(f"| {r['method']} | {select} | {r['proxy']:.3f} | {traces} |")
    lines.append("")
    for n in sizes:
        here = [r for r in rows if n in r["traces"]]
        for figure, key in (("proxy", "proxy"), ("val/select", "val_select")):
            have = [r for r in here if r[key] is not None]
            if len(have) < 3:
                continue
            result = spearmanr([r[key] for r in have], [r["traces"][n] for r in have])
            lines.append(f"- Spearman, {figure} vs traces N={n}: rho {result.statistic:+.2f} "
                         f"(p {result.pvalue:.3f}, {len(have)} checkpoints)")  # fmt: skip
    by_method = {r["method"]: r for r in rows}
    for arm, members in arms.items():
        if len(members) < 2 or any(by_method[m]["val_select"] is None for m in members):
            continue
        plain = recommend(members, {m: by_method[m]["val_select"] for m in members})
        worst = recommend(members, {m: max(by_method[m]["val_select"], by_method[m]["proxy"]) for m in members})
        traces = lambda m: " / ".join(f"{by_method[m]['traces'][n]:.3f}" for n in sizes if n in by_method[m]["traces"])  # noqa: E731
        lines.append(f"- {arm}: val/select recommends {plain} (traces {traces(plain)}); "
                     f"the worst of val/select and the proxy recommends {worst} (traces {traces(worst)})")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("arms", nargs="+", help="ARM[:GROUP]: the test rows and checkpoints of one method")
    parser.add_argument("--workload-config", default="conf/workload/diverse_varied.yaml", help="the proxy's mix")
    parser.add_argument("--size", type=int, default=16, help="the proxy's cluster size N (default 16)")
    parser.add_argument("--seeds", type=int, default=8, help="validation workloads (default 8)")
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, help="where METHOD.ckpt files are")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where ARM_shifts.json and *_selection.json are")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.size < 1 or args.seeds < 1:
        print("error: --size and --seeds must be >= 1", file=sys.stderr)
        return 2
    if not Path(args.workload_config).is_file():
        print(f"error: --workload-config {args.workload_config}: no such file", file=sys.stderr)
        return 2
    try:
        traces = {spec: trace_ratios(spec, args.results) for spec in args.arms}
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    minima = selection_minima(args.results)
    methods = [m for by_method in traces.values() for m in by_method]
    try:
        proxy = proxy_ratios(methods, args.workload_config, args.size, args.seeds, args.checkpoints)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    rows = [
        {"method": m, "arm": spec, "proxy": proxy[m], "val_select": minima.get(m), "traces": by_n,
         "proxy_config": args.workload_config, "proxy_size": args.size, "proxy_seeds": args.seeds}
        for spec, by_method in traces.items() for m, by_n in by_method.items()
    ]  # fmt: skip
    print(report(rows, {spec: list(by_method) for spec, by_method in traces.items()}))
    if args.json:
        tmp = args.json.with_name(args.json.name + ".part")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
