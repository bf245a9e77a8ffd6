"""Markdown tables and JSON of evaluation rows (:class:`~scale_pl.evaluation.across_n.Row`).

A method of several runs (training seeds) shows the interquartile mean over its runs x test
workloads and a stratified-bootstrap 95% interval (:mod:`~scale_pl.evaluation.stats`); a single
run shows its mean over the test workloads. A figure that includes a censored run is a lower
bound and carries a ``>``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from scale_pl.evaluation.across_n import REFERENCE, Row
from scale_pl.evaluation.stats import iqm_interval, mean

DIAGNOSTICS_ORDER = ("tie_share", "entropy", "z_mean", "z_std")


def grouped(rows: list[Row]) -> dict[tuple[str, int], list[Row]]:
    """Rows by (method group, N), in order of first appearance."""
    out: dict[tuple[str, int], list[Row]] = {}
    for r in rows:
        out.setdefault((r.group, r.num_servers), []).append(r)
    return out


def _per_workload(members: list[Row]) -> np.ndarray | None:
    """``[runs, workloads]`` ART of each run on each test workload, or None if a row lacks them."""
    lengths = {len(r.workload_art) for r in members}
    if len(lengths) != 1 or 0 in lengths:
        return None
    return np.array([r.workload_art for r in members], dtype=float)


def scores(members: list[Row], reference: list[Row] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The scores of a group: ART ``[runs, workloads]`` (``[runs]`` for rows without per-workload
    values) and the ratio to the reference's ART on the same workload (None without a reference)."""
    art = _per_workload(members)
    ref = _per_workload(reference) if reference else None
    if art is not None and ref is not None and art.shape[1] == ref.shape[1]:
        return art, art / ref.mean(0)
    runs = np.array([r.art for r in members])
    return runs, runs / mean([r.art for r in reference]) if reference else None


def _censoring(members: list[Row]) -> tuple[str, bool]:
    """``"> "`` if a member has a censored workload, and whether every workload of every member is."""
    flags = [c for r in members for c in r.censored]
    some = any(flags) or any(r.num_censored for r in members)
    return ("> " if some else ""), bool(flags) and all(flags)


def _summary(values: np.ndarray, single: float, digits: int, runs: int) -> tuple[float, str]:
    """A cell's centre and text: ``single`` for one run, else the IQM of ``values`` [interval]."""
    if runs == 1:
        return single, f"{single:.{digits}f}"
    s = iqm_interval(values)
    return s.iqm, f"{s.iqm:.{digits}f} [{s.low:.{digits}f}, {s.high:.{digits}f}]"


def format_table(rows: list[Row], reference: str = "eft") -> str:
    """A markdown table per (method, N): ART, p95, p99, slowdown, utilisation, ART as a ratio to
    ``reference`` and to the lower bound, runs, and censored workloads (censored / all).

    A single run's ratio is its mean ART over the reference's; several runs show the IQM of their
    per-workload ratios (the reference's ART on each workload) with its interval.
    """
    groups = grouped(rows)
    lines = [
        f"| N | method | ART (s) | p95 (s) | p99 (s) | slowdown | utilisation | ART / {reference.upper()} | "
        "ART / lower bound | runs | censored |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (group, n), members in groups.items():
        runs, ref = len(members), groups.get((reference, n))
        more, every = _censoring(members)
        art, ratio = scores(members, ref)
        centre, art_cell = _summary(art, members[0].art, 2, runs)
        cap = max(r.cap for r in members)
        if ratio is None or ref is None:
            ratio_cell = "-"
        elif every and cap > 0 and reference == REFERENCE:
            ratio_cell = f"> {cap:g} x {reference.upper()}"
        else:
            ratio_cell = more + _summary(ratio, members[0].art / mean([r.art for r in ref]), 3, runs)[1]
        total = sum(len(r.censored) for r in members)
        censored = f"{sum(r.num_censored for r in members)}/{total}" if total else "-"
        utilisation = "-" if more else f"{mean([r.utilisation for r in members]):.3f}"
        lines.append(
            f"| {n} | {group} | {more}{art_cell} | {more}{mean([r.p95 for r in members]):.2f} | "
            f"{more}{mean([r.p99 for r in members]):.2f} | {more}{mean([r.slowdown for r in members]):.2f} | "
            f"{utilisation} | {ratio_cell} | {more}{centre / mean([r.lower_bound for r in members]):.3f} | {runs} | "
            f"{censored} |"
        )
    return "\n".join(lines)


def format_notes(rows: list[Row], reference: str = "eft") -> str:
    """What the marks of :func:`format_table` mean, for the rows at hand (empty if nothing to say)."""
    notes = []
    if any(len(m) > 1 for m in grouped(rows).values()):
        notes.append(
            "A method of several runs: interquartile mean over its runs x test workloads [stratified-bootstrap "
            f"95% interval], ART / {reference.upper()} per workload; a single run: its mean over the workloads."
        )
    censored = sum(r.num_censored for r in rows)
    if censored:
        k = max(r.cap for r in rows)
        notes.append(
            f"> : a lower bound. {censored} of {sum(len(r.censored) for r in rows)} runs were censored: stopped "
            f"once certain to exceed {k:g} x {REFERENCE.upper()}'s ART on their workload; each enters every "
            "figure as the certain lower bound at its stop (utilisation: -)."
        )
    return "\n".join(notes)


def format_pattern_table(rows: list[Row], reference: str = "eft") -> str:
    """A markdown table of mean response time per DAG pattern, with the ratio to ``reference`` in brackets."""
    groups = grouped(rows)
    patterns = sorted({p for r in rows for p in r.pattern_art})
    ref = {
        (n, p): mean([r.pattern_art[p] for r in members])
        for (g, n), members in groups.items()
        if g == reference
        for p in patterns
        if all(p in r.pattern_art for r in members)
    }
    lines = ["| N | method | " + " | ".join(patterns) + " |", "|---:|---|" + "---:|" * len(patterns)]
    for (group, n), members in groups.items():
        more, _ = _censoring(members)
        cells = []
        for p in patterns:
            values = [r.pattern_art[p] for r in members if p in r.pattern_art]
            if not values:
                cells.append("-")
                continue
            art = mean(values)
            cells.append(more + (f"{art:.2f} ({art / ref[n, p]:.2f})" if (n, p) in ref else f"{art:.2f}"))
        lines.append(f"| {n} | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_z_table(rows: list[Row]) -> str:
    """A markdown table of the attention feature's statistics per learned method and N (mean over runs)."""
    lines = ["| N | method | z mean | z std | z KL to N(0, I) | z decorrelation |", "|---:|---|---:|---:|---:|---:|"]
    for (group, n), members in grouped(rows).items():
        if all(r.z for r in members):
            cells = [f"{mean([r.z[k] for r in members]):.3f}" for k in ("mean", "std", "kl", "decorrelation")]
            lines.append(f"| {n} | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_diagnostics_table(rows: list[Row]) -> str:
    """A markdown table of the policies' decision diagnostics per method and N (mean over runs):
    the share of decisions whose top score was tied, the pointer's normalised entropy, z's moments,
    then any other key a policy reports. Empty if no row has diagnostics."""
    keys = list(dict.fromkeys(k for r in rows for k in r.diagnostics))
    if not keys:
        return ""
    keys = [k for k in DIAGNOSTICS_ORDER if k in keys] + sorted(k for k in keys if k not in DIAGNOSTICS_ORDER)
    lines = ["| N | method | " + " | ".join(keys) + " |", "|---:|---|" + "---:|" * len(keys)]
    for (group, n), members in grouped(rows).items():
        if all(r.diagnostics for r in members):
            cells = [
                f"{mean([r.diagnostics[k] for r in members if k in r.diagnostics]):.3f}"
                if any(k in r.diagnostics for r in members)
                else "-"
                for k in keys
            ]
            lines.append(f"| {n} | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rows_to_json(rows: list[Row]) -> list[dict]:
    """The rows as JSON-ready dicts (every field of :class:`Row`; NaN, such as a censored run's
    utilisation, as None, which ``json`` writes as null)."""
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in dataclasses.asdict(r).items()}
            for r in rows]  # fmt: skip
