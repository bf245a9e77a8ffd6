"""The RESULTS.md tables from study/report.sh's JSON rows (study/out/*.json).

    python study/tables.py main      # the main table (SCALE, no SRR, heuristics) and ART / EFT per seed
    python study/tables.py targets   # issue 11's targets, measured
    python study/tables.py sum       # summed-attention variant: ART / EFT and the generalisation gap

Nothing is computed here that the JSON does not hold: means, interquartile means with stratified-bootstrap
95% intervals (scale_pl.evaluation.stats) and ratios to EFT's ART on the same test workloads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scale_pl.evaluation.across_n import Row
from scale_pl.evaluation.stats import mean
from scale_pl.evaluation.tables import format_table

OUT = Path(__file__).resolve().parent / "out"
SIZES = (16, 32, 48, 64, 128)


def load(*names: str) -> list[Row]:
    rows, seen = [], set()
    for name in names:
        for d in json.loads((OUT / name).read_text()):
            key = (d["method"], d["num_servers"])
            if key not in seen:  # the heuristics appear in every file, identical
                seen.add(key)
                rows.append(Row(**d))
    return rows


def art(rows: list[Row]) -> dict[tuple[str, int], float]:
    return {(r.method, r.num_servers): r.art for r in rows}


def members(rows: list[Row], group: str) -> list[str]:
    return sorted({r.method for r in rows if r.group == group})


def main_tables() -> str:
    rows = load("main_scale.json", "main_no_srr.json")
    order = {"scale": 0, "no_srr": 1, "eft": 2, "rank_eft": 3, "least_loaded": 4}
    rows.sort(key=lambda r: (r.num_servers, order.get(r.group, 9)))
    a = art(rows)
    lines = [format_table(rows), "", "ART / EFT per training seed:", ""]
    lines.append("| run | " + " | ".join(f"N={n}" for n in SIZES) + " |")
    lines.append("|---|" + "---:|" * len(SIZES))
    for group in ("scale", "no_srr"):
        for m in members(rows, group):
            lines.append(f"| {m} | " + " | ".join(f"{a[m, n] / a['eft', n]:.3f}" for n in SIZES) + " |")
    return "\n".join(lines)


def targets() -> str:
    rows = load("main_scale.json", "main_no_srr.json")
    a = art(rows)
    look = art(load("lookahead.json"))
    lines = ["| target | N=16 | N=32 | N=48 | N=64 | N=128 |", "|---|---:|---:|---:|---:|---:|"]
    seeds = members(rows, "scale")

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    worst = [max(a[m, n] / a["eft", n] for m in seeds) for n in SIZES]
    row("every SCALE seed below EFT (worst seed / EFT)", [f"{w:.3f} {'met' if w < 1 else '**missed**'}" for w in worst])
    means = [mean([a[m, n] / a["eft", n] for m in seeds]) for n in SIZES]
    row("SCALE mean <= 0.90 x EFT", [f"{v:.3f} {'met' if v <= 0.90 else '**missed**'}" for v in means])
    cells = []
    for n, v in zip(SIZES, means, strict=True):
        best = min(a["rank_eft", n], a["least_loaded", n], *([look["lookahead:10", n]] if n == 16 else []))
        ratio = best / a["eft", n]
        cells.append(f"{v:.3f} vs {ratio:.3f} {'met' if v < ratio else '**missed**'}")
    row("SCALE mean below the best heuristic (best heuristic / EFT)", cells)
    return "\n".join(lines)


def sum_table() -> str:
    """Each run's ART / EFT against EFT on its own file's workloads (sum.json has 8 per N, main 16)."""
    lines = ["| run | test workloads per N | " + " | ".join(f"N={n}" for n in SIZES) + " | gap: N=128 / N=16 |",
             "|---|---:|" + "---:|" * 6]  # fmt: skip
    for file, runs in (("sum.json", ("scale_sum_s0", "no_srr_sum_s0")), ("main_scale.json", ("scale_s0",)),
                       ("main_no_srr.json", ("no_srr_s0",))):  # fmt: skip
        a = art(load(file))
        per_n = "8" if file == "sum.json" else "16"
        for m in runs:
            ratios = [a[m, n] / a["eft", n] for n in SIZES]
            cells = " | ".join(f"{r:.3f}" for r in ratios)
            lines.append(f"| {m} | {per_n} | {cells} | {ratios[-1] / ratios[0]:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print({"main": main_tables, "targets": targets, "sum": sum_table}[sys.argv[1]]())
