"""Evaluate policies at several cluster sizes on identical seeded workloads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from scale_pl.evaluation.stats import interval
from scale_pl.losses.srr import feature_stats
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.generators.generator import WorkloadGenerator, workloads
from scale_pl.sim.system.cluster import ClusterSpec
from scale_pl.sim.system.workload import Workload


@dataclass
class Row:
    """One method at one N, averaged over the seeded workloads.

    ``group`` names the method a row belongs to when several rows are one method's training seeds
    (``scale`` from three checkpoints); it defaults to ``method``. ``pattern_art`` is the mean
    response time of each DAG pattern's workflows, pooled over the workloads; ``z`` the mean, std,
    KL to N(0, I) and decorrelation of a learned policy's attention feature over its decisions.
    """

    method: str
    num_servers: int
    art: float
    p95: float
    p99: float
    slowdown: float
    utilisation: float
    lower_bound: float
    group: str = ""
    pattern_art: dict[str, float] = field(default_factory=dict)
    z: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.group = self.group or self.method


def pattern_means(response_times: np.ndarray, loads: Sequence[Workload]) -> dict[str, float]:
    """Mean response time per pattern; ``response_times`` is ``[B, W+1]`` with workflow j in row j."""
    pooled: dict[str, list[float]] = defaultdict(list)
    for rt, wl in zip(response_times, loads, strict=True):
        for j, wf in enumerate(wl.workflows):
            pooled[wf.pattern or "?"].append(float(rt[j]))
    return {name: float(np.nanmean(v)) for name, v in sorted(pooled.items())}


def evaluate(
    policies: dict[str, Callable[[], object]],
    generator: WorkloadGenerator,
    spec: ClusterSpec,
    sizes: Sequence[int],
    seeds: Sequence[int],
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
    groups: dict[str, str] | None = None,
    information: str = "expected",
) -> list[Row]:
    """Run each policy (built fresh by its factory) at each N on the workloads of ``seeds``.

    ``groups`` maps a policy name to the method it is a training seed of (default: itself);
    ``information`` is the environment's information model (what every policy knows).
    """
    rows = []
    for n in sizes:
        pairs = workloads(generator, spec, n, seeds)
        batch = WorkloadBatch.from_pairs(pairs).to(device)
        for name, factory in policies.items():
            if progress:
                progress(f"N={n} {name}")
            env, policy = SchedulingEnv(batch, information=information), factory()
            run_episode(env, policy)
            m = {k: float(v.mean()) for k, v in env.metrics().items()}
            by_pattern = pattern_means(env.response_times().cpu().numpy(), [wl for wl, _ in pairs])
            features = getattr(policy, "features", None)  # GreedyPolicy(record_features=True)
            z = feature_stats(torch.cat(features)) if features else {}
            values = [m[k] for k in ("art", "p95", "p99", "slowdown", "utilisation", "lower_bound")]
            rows.append(Row(name, n, *values, group=(groups or {}).get(name, name), pattern_art=by_pattern, z=z))
    return rows


def evaluate_across_n(
    policies: dict[str, Callable[[], object]],
    workload_config: str | None,
    cluster_config: str | None,
    sizes: Sequence[int],
    seeds: Sequence[int],
    workflows_per_server: int,
    rho: float | None = None,
    progress: Callable[[str], None] | None = None,
    groups: dict[str, str] | None = None,
    information: str = "expected",
) -> list[Row]:
    """:func:`evaluate` with ``workflows_per_server x N`` workflows per workload at each N."""
    from scale_pl.sim.generators.config import load_cluster_spec, load_generator

    spec = load_cluster_spec(cluster_config)
    overrides = {} if rho is None else {"rho": rho}
    rows = []
    for n in sizes:
        generator = load_generator(workload_config, num_workflows=workflows_per_server * n, **overrides)
        rows += evaluate(
            policies, generator, spec, [n], seeds, progress=progress, groups=groups, information=information
        )
    return rows


def _grouped(rows: list[Row]) -> dict[tuple[str, int], list[Row]]:
    """Rows by (method group, N), in order of first appearance."""
    out: dict[tuple[str, int], list[Row]] = {}
    for r in rows:
        out.setdefault((r.group, r.num_servers), []).append(r)
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def format_table(rows: list[Row], reference: str = "eft") -> str:
    """A markdown table per (method, N): ART, p95, p99, slowdown, utilisation, and ART as a ratio to
    ``reference`` and to the lower bound. A method of several runs (training seeds) shows the mean and
    the 95% t-interval of its ART and of its ratio to the reference.
    """
    groups = _grouped(rows)
    ref = {n: _mean([r.art for r in members]) for (g, n), members in groups.items() if g == reference}
    lines = [
        f"| N | method | ART (s) | p95 (s) | p99 (s) | slowdown | utilisation | ART / {reference.upper()} | "
        "ART / lower bound | runs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (group, n), members in groups.items():
        art, half = interval([r.art for r in members])
        cell = f"{art:.2f} ± {half:.2f}" if len(members) > 1 else f"{art:.2f}"
        if n in ref:
            ratio, rhalf = interval([r.art / ref[n] for r in members])
            ratio_cell = f"{ratio:.3f} ± {rhalf:.3f}" if len(members) > 1 else f"{ratio:.3f}"
        else:
            ratio_cell = "-"
        lines.append(
            f"| {n} | {group} | {cell} | {_mean([r.p95 for r in members]):.2f} | "
            f"{_mean([r.p99 for r in members]):.2f} | {_mean([r.slowdown for r in members]):.2f} | "
            f"{_mean([r.utilisation for r in members]):.3f} | {ratio_cell} | "
            f"{art / _mean([r.lower_bound for r in members]):.3f} | {len(members)} |"
        )
    return "\n".join(lines)


def format_pattern_table(rows: list[Row], reference: str = "eft") -> str:
    """A markdown table of mean response time per DAG pattern, with the ratio to ``reference`` in brackets."""
    groups = _grouped(rows)
    patterns = sorted({p for r in rows for p in r.pattern_art})
    ref = {
        (n, p): _mean([r.pattern_art[p] for r in members])
        for (g, n), members in groups.items()
        if g == reference
        for p in patterns
        if all(p in r.pattern_art for r in members)
    }
    lines = ["| N | method | " + " | ".join(patterns) + " |", "|---:|---|" + "---:|" * len(patterns)]
    for (group, n), members in groups.items():
        cells = []
        for p in patterns:
            values = [r.pattern_art[p] for r in members if p in r.pattern_art]
            if not values:
                cells.append("-")
                continue
            art = _mean(values)
            cells.append(f"{art:.2f} ({art / ref[n, p]:.2f})" if (n, p) in ref else f"{art:.2f}")
        lines.append(f"| {n} | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_z_table(rows: list[Row]) -> str:
    """A markdown table of the attention feature's statistics per learned method and N (mean over runs)."""
    lines = ["| N | method | z mean | z std | z KL to N(0, I) | z decorrelation |", "|---:|---|---:|---:|---:|---:|"]
    for (group, n), members in _grouped(rows).items():
        if all(r.z for r in members):
            cells = [f"{_mean([r.z[k] for r in members]):.3f}" for k in ("mean", "std", "kl", "decorrelation")]
            lines.append(f"| {n} | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rows_to_json(rows: list[Row]) -> list[dict]:
    return [{**r.__dict__, "pattern_art": dict(r.pattern_art), "z": dict(r.z)} for r in rows]
