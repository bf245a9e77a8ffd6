"""The robustness study's tables (issue 18) from study/robust.sh's JSON rows, with its targets checked.

    python study/robust_tables.py robust                 # the arm's own files: study/results/robust_*.json
    python study/robust_tables.py robust --group robust  # the method of those files to summarise
    python study/robust_tables.py --compare shipped:scale shipped:anchored robust:robust  # arms side by side
    python study/robust_tables.py --paired robust:robust abl_nosrr  # an ablation, paired by training seed
    python study/robust_tables.py --ablations robust:robust abl_nosrr abl_noanchor  # several, mean differences
    python study/robust_tables.py --families robust:robust robust_d30:robust_d30  # traces, per family

One row per test point (setting, N): EFT's ART; the arm's interquartile mean of ART / EFT's ART
over seeds x test workloads [stratified-bootstrap 95% interval]; every seed's ratio (its mean ART
over EFT's) and the worst; p95 / EFT's p95, the worst seed; rank_eft's and least_loaded's ratios.
Then the issue's targets, each measured on those rows:

- every seed below EFT at every point (ratio < 1);
- the arm's IQM <= 0.85 at N >= 96 and <= 0.90 at N = 16-48 (the size points at rho 0.7 only);
- the arm's IQM below the better of rank_eft and least_loaded at every point;
- every seed's p95 no worse than EFT's at every point.

Nothing is computed that the JSON does not hold, except the ratios and the IQM
(scale_pl.evaluation.stats). Files: ARM_sizes_small, ARM_sizes_large, ARM_rho0.5, ARM_rho0.85
(`evaluate` rows) and ARM_shifts (study/shifts.py rows); any that is missing is left out and named.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scale_pl.evaluation.stats import iqm_interval

RESULTS = Path(__file__).resolve().parent / "results"
FILES = {  # file suffix -> the setting its rows belong to (shifts rows name their own)
    "sizes_small": "rho 0.7",
    "sizes_large": "rho 0.7",
    "rho0.5": "rho 0.5",
    "rho0.85": "rho 0.85",
    "shifts": None,
}
HEURISTICS = ("rank_eft", "least_loaded")
TRACES = RESULTS.parents[1] / "tests" / "data" / "wfinstances"  # the files behind the wfinstances setting


@dataclass
class Point:
    setting: str
    n: int
    eft_art: float
    iqm: float
    low: float
    high: float
    seeds: dict[str, float]  # seed's mean ART / EFT's
    p95: dict[str, float]  # seed's p95 / EFT's
    censored: int
    heuristics: dict[str, float]


def load_rows(arm: str) -> tuple[list[dict], list[str]]:
    rows, missing = [], []
    for suffix, setting in FILES.items():
        path = RESULTS / f"{arm}_{suffix}.json"
        if not path.is_file():
            missing.append(path.name)
            continue
        for row in json.loads(path.read_text()):
            rows.append(row | {"setting": row.get("setting", setting)})
    return rows, missing


def points(rows: list[dict], group: str) -> list[Point]:
    keys = sorted({(r["setting"], r["num_servers"]) for r in rows}, key=lambda k: (k[0] != "rho 0.7", k))
    out = []
    for setting, n in keys:
        here = [r for r in rows if (r["setting"], r["num_servers"]) == (setting, n)]
        eft = next((r for r in here if r["method"] == "eft"), None)
        members = sorted((r for r in here if r.get("group") == group), key=lambda r: r["method"])
        if eft is None or not members:
            continue
        reference = np.asarray(eft["workload_art"], dtype=float)
        scores = np.asarray([r["workload_art"] for r in members], dtype=float) / reference
        summary = iqm_interval(scores)
        out.append(
            Point(
                setting=setting,
                n=n,
                eft_art=eft["art"],
                iqm=summary.iqm,
                low=summary.low,
                high=summary.high,
                seeds={r["method"]: r["art"] / eft["art"] for r in members},
                p95={r["method"]: r["p95"] / eft["p95"] for r in members},
                censored=sum(r["num_censored"] for r in members),
                heuristics={r["method"]: r["art"] / eft["art"] for r in here if r["method"] in HEURISTICS},
            )
        )
    return out


def table(found: list[Point]) -> str:
    lines = [
        "| setting | N | EFT ART (s) | IQM ART / EFT [95% CI] | per seed | worst seed | worst p95 / EFT's "
        "| rank_eft | least_loaded | censored |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for p in found:
        seeds = " ".join(f"{v:.3f}" for v in p.seeds.values())
        heur = [f"{p.heuristics[h]:.3f}" if h in p.heuristics else "" for h in HEURISTICS]
        interval = "(one seed)" if np.isnan(p.low) else f"[{p.low:.3f}, {p.high:.3f}]"  # no spread over seeds
        lines.append(
            f"| {p.setting} | {p.n} | {p.eft_art:.2f} | {p.iqm:.3f} {interval} | {seeds} "
            f"| {max(p.seeds.values()):.3f} | {max(p.p95.values()):.3f} | {' | '.join(heur)} | {p.censored} |"
        )
    return "\n".join(lines)


def targets(found: list[Point]) -> str:
    def verdict(misses: list[str]) -> str:
        return "met" if not misses else "missed at " + "; ".join(misses)

    def where(p: Point) -> str:
        return f"{p.setting} N={p.n}"

    below = [f"{where(p)} ({max(p.seeds, key=p.seeds.get)} {max(p.seeds.values()):.3f})" for p in found
             if max(p.seeds.values()) >= 1.0]  # fmt: skip
    sizes = [p for p in found if p.setting == "rho 0.7"]
    mean = [f"{where(p)} ({p.iqm:.3f} > {0.85 if p.n >= 96 else 0.90})" for p in sizes
            if p.iqm > (0.85 if p.n >= 96 else 0.90)]  # fmt: skip
    best = [f"{where(p)} ({p.iqm:.3f} vs {min(p.heuristics.values()):.3f})" for p in found
            if p.heuristics and p.iqm >= min(p.heuristics.values())]  # fmt: skip
    tail = [f"{where(p)} ({max(p.p95.values()):.3f})" for p in found if max(p.p95.values()) > 1.0]
    return "\n".join(
        [
            f"- every seed below EFT everywhere: {verdict(below)}",
            "- IQM <= 0.85 at N >= 96 and <= 0.90 at N = 16-48 (rho 0.7): "
            + (verdict(mean) if sizes else "not measured (no rho 0.7 size rows)"),
            f"- IQM below the better of rank_eft and least_loaded: {verdict(best)}",
            f"- every seed's p95 no worse than EFT's: {verdict(tail)}",
        ]
    )


def arm_points(spec: str) -> dict[tuple[str, int], Point]:
    """The points of ``ARM[:GROUP]`` by (setting, N); an error if the arm's files hold none of that group."""
    arm, _, group = spec.partition(":")
    found = points(load_rows(arm)[0], group or arm)
    if not found:
        raise SystemExit(f"error: no rows of group {group or arm!r} in study/results/{arm}_*.json")
    return {(p.setting, p.n): p for p in found}


def compare(specs: list[str]) -> str:
    """Arms side by side: per point, each arm's IQM, worst seed and worst p95 / EFT's (``ARM:GROUP``)."""
    arms: dict[str, dict[tuple[str, int], Point]] = {}
    for spec in specs:
        arm, _, group = spec.partition(":")
        arms[group or arm] = arm_points(spec)
    keys = list(dict.fromkeys(k for by_point in arms.values() for k in by_point))
    lines = [
        "| setting | N | " + " | ".join(f"{name}: IQM (worst seed) [worst p95]" for name in arms) + " |",
        "|---|---:|" + "---|" * len(arms),
    ]
    for key in keys:
        cells = []
        for by_point in arms.values():
            q = by_point.get(key)
            cells.append(f"{q.iqm:.3f} ({max(q.seeds.values()):.3f}) [{max(q.p95.values()):.2f}]" if q else "")
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_of(method: str) -> str:
    """The training seed a checkpoint's method name ends with (``robust_s1``, ``scale_s1@eft:3:10`` -> ``s1``)."""
    match = re.search(r"_(s\d+)(@.*)?$", method)
    return match.group(1) if match else method


def seed_ratios(spec: str) -> dict[tuple[str, int], dict[str, float]]:
    """Per point, each training seed's ratio to EFT for ``ARM[:GROUP]`` (seeds named by :func:`seed_of`)."""
    return {key: {seed_of(m): v for m, v in p.seeds.items()} for key, p in arm_points(spec).items()}


def shared_seeds(base: dict, other: dict, names: tuple[str, str]) -> list[str]:
    seeds = sorted({s for v in base.values() for s in v} & {s for v in other.values() for s in v})
    if not seeds:
        raise SystemExit(f"error: {names[0]} and {names[1]} share no training seed (names ending _sK)")
    return seeds


def paired(base_spec: str, other_spec: str) -> str:
    """An ablation against its base, seed by seed: per point, each shared seed's ``base -> other``
    ratio to EFT and the mean of the paired differences (other - base; negative: the ablation is better)."""
    base, other = seed_ratios(base_spec), seed_ratios(other_spec)
    seeds = shared_seeds(base, other, (base_spec, other_spec))
    lines = [
        "| setting | N | " + " | ".join(f"seed {s[1:]}" for s in seeds) + " | mean difference |",
        "|---|---:|" + "---|" * len(seeds) + "---:|",
    ]
    for key in base:
        if key not in other:
            continue
        shared = [s for s in seeds if s in base[key] and s in other[key]]
        cells = [f"{base[key][s]:.3f} -> {other[key][s]:.3f}" if s in shared else "" for s in seeds]
        diff = np.mean([other[key][s] - base[key][s] for s in shared])
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + f" | {diff:+.3f} |")
    return "\n".join(lines)


def ablations(base_spec: str, others: list[str]) -> str:
    """Several ablations against one base: per point and ablation, the mean paired difference
    (other - base, over the seeds both have there) and each seed's difference in parentheses."""
    base = seed_ratios(base_spec)
    columns = {spec: seed_ratios(spec) for spec in others}
    for spec, other in columns.items():
        shared_seeds(base, other, (base_spec, spec))
    lines = [
        "| setting | N | " + " | ".join(f"{spec.partition(':')[0]}: mean (per seed)" for spec in others) + " |",
        "|---|---:|" + "---|" * len(others),
    ]
    for key in base:
        cells = []
        for other in columns.values():
            seeds = [s for s in sorted(base[key]) if s in other.get(key, {})]
            diffs = [other[key][s] - base[key][s] for s in seeds]
            cells.append(f"{np.mean(diffs):+.3f} ({' '.join(f'{d:+.3f}' for d in diffs)})" if diffs else "")
        if any(cells):
            lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def family_names() -> dict[str, str]:
    """A trace's workflow name (its ``pattern_art`` key, ``wfformat:NAME``) -> its family, the file name's
    first word (``srasearch-chameleon-10a-001.json`` -> ``srasearch``; ``helloworld-chain-...`` -> ``chain``)."""
    names = {}
    for path in sorted(TRACES.glob("*.json")):
        family = path.stem.split("-")[1] if path.stem.startswith("helloworld-") else path.stem.split("-")[0]
        names[f"wfformat:{json.loads(path.read_text())['name']}"] = family
    return names


def families(specs: list[str]) -> str:
    """The traces family by family: per N and family, each seed's (or a vote's) mean ART over EFT's on
    that family's workflows, for every ``ARM:GROUP`` (the ``wfinstances`` rows of ARM_shifts.json)."""
    names = family_names()
    columns: dict[str, dict[tuple[int, str], list[float]]] = {}
    for spec in specs:
        arm, _, group = spec.partition(":")
        rows = [r for r in load_rows(arm)[0] if r["setting"] == "wfinstances"]
        members = sorted({r["method"] for r in rows if r.get("group") == (group or arm)})
        if not members:
            raise SystemExit(f"error: no wfinstances rows of group {group or arm!r} in study/results/{arm}_shifts.json")
        cells: dict[tuple[int, str], list[float]] = {}
        for n in sorted({r["num_servers"] for r in rows}):
            eft = next(r for r in rows if r["method"] == "eft" and r["num_servers"] == n)["pattern_art"]
            for row in sorted((r for r in rows if r["method"] in members and r["num_servers"] == n),
                              key=lambda r: r["method"]):  # fmt: skip
                for key, art in row["pattern_art"].items():
                    cells.setdefault((n, names.get(key, key)), []).append(art / eft[key])
        columns[group or arm] = cells
    keys = sorted({k for cells in columns.values() for k in cells})
    lines = [
        "| N | family | " + " | ".join(f"{name}: per seed" for name in columns) + " |",
        "|---:|---|" + "---|" * len(columns),
    ]
    for n, family in keys:
        cells = [" ".join(f"{v:.3f}" for v in c.get((n, family), [])) for c in columns.values()]
        lines.append(f"| {n} | {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("arm", nargs="?", help="the ARM of study/robust.sh (file prefix in study/results)")
    parser.add_argument("--group", default=None, help="the method (group) to summarise; default: the arm's name")
    parser.add_argument("--compare", nargs="+", metavar="ARM:GROUP", help="arms side by side instead")
    parser.add_argument("--paired", nargs=2, metavar=("BASE:GROUP", "OTHER:GROUP"),
                        help="an ablation against its base, paired by training seed instead")  # fmt: skip
    parser.add_argument("--ablations", nargs="+", metavar="ARM",
                        help="BASE:GROUP, then ablation arms: each one's mean paired difference")  # fmt: skip
    parser.add_argument("--families", nargs="+", metavar="ARM:GROUP",
                        help="the WfInstances traces family by family, each seed's ratio to EFT")  # fmt: skip
    args = parser.parse_args(argv)
    if args.families:
        print(families(args.families))
        return 0
    if args.compare:
        print(compare(args.compare))
        return 0
    if args.paired:
        print(paired(*args.paired))
        return 0
    if args.ablations:
        if len(args.ablations) < 2:
            parser.error("--ablations needs BASE:GROUP and at least one ablation arm")
        print(ablations(args.ablations[0], args.ablations[1:]))
        return 0
    if not args.arm:
        parser.error("give an ARM, or --compare ARM:GROUP ...")
    rows, missing = load_rows(args.arm)
    found = points(rows, args.group or args.arm)
    if not found:
        print(f"error: no rows of group {args.group or args.arm!r} in study/results/{args.arm}_*.json", file=sys.stderr)
        return 2
    print(table(found))
    print()
    print(targets(found))
    if missing:
        print(f"\n(not yet measured: {', '.join(missing)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
