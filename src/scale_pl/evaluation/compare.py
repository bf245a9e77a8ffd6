"""Comparing MLflow runs: one row per method (encoder x SRR x training sizes), the interquartile mean
and a bootstrap 95% interval over its seeds (:mod:`~scale_pl.evaluation.stats`; each run logs one ART
per N, so the runs are resampled as one stratum)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from scale_pl.errors import ScaleError
from scale_pl.evaluation.stats import Summary, iqm_interval

FINAL = re.compile(r"^final/N(\d+)/(.+)_art$")
CENSORED = re.compile(r"^final/N(\d+)/(.+)_censored$")  # censored test workloads: the ART is a lower bound
ZSTAT = re.compile(r"^val/N(\d+)/z_(mean|std|kl)$")  # last validation, at the validation sizes
ZFINAL = re.compile(r"^final/N(\d+)/scale_z_(mean|std|kl)$")  # the final evaluation, at the test sizes


@dataclass
class MethodStats:
    """Per N: the values of one method over its runs (seeds), and how many of those runs were censored
    on some test workload (their ART is a lower bound)."""

    art: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    censored: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    z: dict[str, dict[int, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    runs: int = 0


def method_label(tags: dict[str, str]) -> str:
    """Runs of one config, encoder, SRR setting, training sizes and ``variant`` tag are seeds of one method.

    ``variant`` is free text for what the other tags do not show (an override such as a norm layer):
    ``--trainer.logger.init_args.tags '{"variant": "layernorm"}'``.
    """
    config = tags.get("config", "-")
    label = f"scale[{config + ', ' if config != '-' else ''}{tags.get('encoder', '?')}, srr {tags.get('srr', '?')}"
    sizes = tags.get("train_sizes", "")
    label += f", N={sizes}" if sizes and sizes != "16" else ""
    return label + (f", {tags['variant']}]" if tags.get("variant") else "]")


def load_runs(uri: str, experiment: str) -> list:
    """The FINISHED runs of the MLflow experiment named ``experiment`` in the store at ``uri``."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ScaleError(f"{uri}: no experiment named {experiment!r}")
    runs, token = [], None
    while True:  # a page holds at most 1000 runs
        page = client.search_runs(
            [found.experiment_id], filter_string="attributes.status = 'FINISHED'", page_token=token
        )
        runs += page
        token = page.token
        if not token:
            return runs


def collect(runs) -> dict[str, MethodStats]:
    """Group finished MLflow runs into methods; heuristics' final ART become methods of their own."""
    stats: dict[str, MethodStats] = defaultdict(MethodStats)
    seen_heuristics: set[tuple[str, int]] = set()
    for run in runs:
        label = method_label(run.data.tags)
        if any(k.startswith("final/") and k.endswith("/scale_art") for k in run.data.metrics):
            stats[label].runs += 1  # runs without a final evaluation add only z statistics
        for key, value in run.data.metrics.items():
            if m := FINAL.match(key):
                n, method = int(m.group(1)), m.group(2)
                if method == "scale":
                    stats[label].art[n].append(value)
                elif (method, n) not in seen_heuristics:  # identical test workloads: one value per N
                    seen_heuristics.add((method, n))
                    stats[method].art[n].append(value)
                    censored = run.data.metrics.get(f"final/N{n}/{method}_censored", 0)
                    stats[method].censored[n] += int(censored > 0)
            elif (m := CENSORED.match(key)) and m.group(2) == "scale":
                stats[label].censored[int(m.group(1))] += int(value > 0)
        # z statistics: the final evaluation's (the test sizes, up to the largest N) if the run has them
        zkeys = [(m, v) for k, v in run.data.metrics.items() if (m := ZFINAL.match(k))]
        zkeys = zkeys or [(m, v) for k, v in run.data.metrics.items() if (m := ZSTAT.match(k))]
        for m, value in zkeys:
            stats[label].z[m.group(2)][int(m.group(1))].append(value)
    return dict(stats)


def summary(values: list[float]) -> Summary:
    """IQM and bootstrap interval of a method's runs at one N (NaN interval for one run)."""
    return iqm_interval(values)


def markdown(stats: dict[str, MethodStats], reference: str = "eft") -> str:
    """ART per N (one run: its value; several: IQM [95% interval]) and the IQM's ratio to ``reference``;
    ``>`` marks a lower bound (a run censored on some test workload)."""
    sizes = sorted({n for s in stats.values() for n in s.art})
    ref = {n: summary(stats[reference].art[n]).iqm for n in sizes if reference in stats and stats[reference].art.get(n)}
    head = "| method | runs | " + " | ".join(f"N={n} ART (s)" for n in sizes) + " | " + \
        " | ".join(f"N={n} / {reference.upper()}" for n in sizes) + " |"  # fmt: skip
    lines = [head, "|---|---:|" + "---:|" * (2 * len(sizes))]
    for name, s in stats.items():
        cells, ratios = [], []
        for n in sizes:
            if not s.art.get(n):
                cells.append("-")
                ratios.append("-")
                continue
            more = "> " if s.censored.get(n) else ""
            c = summary(s.art[n])
            cells.append(more + (f"{c.iqm:.2f} [{c.low:.2f}, {c.high:.2f}]" if len(s.art[n]) > 1 else f"{c.iqm:.2f}"))
            ratios.append(f"{more}{c.iqm / ref[n]:.3f}" if n in ref else "-")
        lines.append(f"| {name} | {s.runs or '-'} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def method_color(i: int) -> tuple:
    """Twenty distinct colours (tab20), the same per method in both plots."""
    return plt.get_cmap("tab20")(i % 20)


def plot(stats: dict[str, MethodStats], out: Path) -> list[Path]:
    """``art_vs_n.png`` (IQM and interval per method) and ``z_stats_vs_n.png`` (z mean, std, KL per N)."""
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, s) in enumerate(stats.items()):
        sizes = sorted(s.art)
        if not sizes or max(summary(s.art[n]).iqm for n in sizes) > 100:  # diverging baselines off-scale
            continue
        centre = [summary(s.art[n]) for n in sizes]
        below = [c.iqm - c.low if len(s.art[n]) > 1 else 0.0 for c, n in zip(centre, sizes, strict=True)]
        above = [c.high - c.iqm if len(s.art[n]) > 1 else 0.0 for c, n in zip(centre, sizes, strict=True)]
        learned = name.startswith("scale[")  # heuristics dashed, so 10+ methods stay readable
        ax.errorbar(sizes, [c.iqm for c in centre], yerr=[below, above], marker="o" if learned else "s", capsize=3,
                    label=name, color=method_color(i), linestyle="-" if learned else "--")  # fmt: skip
    ax.set(xlabel="servers N", ylabel="ART (s)", title="ART across cluster sizes (test workloads)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths = [out / "art_vs_n.png"]
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, stat in zip(axes, ("mean", "std", "kl"), strict=True):
        for i, (name, s) in enumerate(stats.items()):
            series = s.z.get(stat)
            if series:
                sizes = sorted(series)
                ax.plot(sizes, [summary(series[n]).iqm for n in sizes], marker="o", label=name, color=method_color(i))
        ax.set(xlabel="servers N", title=f"attention feature z: {stat}")
        ax.grid(alpha=0.3)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
            break
    fig.tight_layout()
    paths.append(out / "z_stats_vs_n.png")
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths
