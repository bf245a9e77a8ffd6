"""Evaluate policies at several cluster sizes on identical seeded workloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scale_pl.sim.batch import WorkloadBatch
from scale_pl.sim.cluster import ClusterSpec
from scale_pl.sim.env import SchedulingEnv
from scale_pl.sim.generator import WorkloadGenerator
from scale_pl.sim.rollout import run_episode


@dataclass
class Row:
    """One method at one N, averaged over the seeded workloads."""

    method: str
    num_servers: int
    art: float
    p95: float
    p99: float
    slowdown: float
    utilisation: float
    lower_bound: float


def workload_batch(
    generator: WorkloadGenerator, spec: ClusterSpec, num_servers: int, seeds: Sequence[int]
) -> WorkloadBatch:
    """The same workloads for every method: one per seed, on the N-server cluster of ``spec``."""
    cluster = spec.make(num_servers, generator.catalogue)
    return WorkloadBatch.from_pairs([(generator.generate(cluster, s), cluster) for s in seeds])


def evaluate(
    policies: dict[str, Callable[[], object]],
    generator: WorkloadGenerator,
    spec: ClusterSpec,
    sizes: Sequence[int],
    seeds: Sequence[int],
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Run each policy (built fresh by its factory) at each N on the workloads of ``seeds``."""
    rows = []
    for n in sizes:
        batch = workload_batch(generator, spec, n, seeds).to(device)
        for name, factory in policies.items():
            if progress:
                progress(f"N={n} {name}")
            env = SchedulingEnv(batch)
            run_episode(env, factory())
            m = {k: float(v.mean()) for k, v in env.metrics().items()}
            rows.append(Row(name, n, m["art"], m["p95"], m["p99"], m["slowdown"], m["utilisation"], m["lower_bound"]))
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
) -> list[Row]:
    """:func:`evaluate` with ``workflows_per_server x N`` workflows per workload at each N."""
    from scale_pl.sim.config import load_cluster_spec, load_generator

    spec = load_cluster_spec(cluster_config)
    overrides = {} if rho is None else {"rho": rho}
    rows = []
    for n in sizes:
        generator = load_generator(workload_config, num_workflows=workflows_per_server * n, **overrides)
        rows += evaluate(policies, generator, spec, [n], seeds, progress=progress)
    return rows


def format_table(rows: list[Row], reference: str = "eft") -> str:
    """A markdown table: ART, p95, slowdown, and ART as a ratio to ``reference`` and to the lower bound."""
    ref = {r.num_servers: r.art for r in rows if r.method == reference}
    lines = [
        f"| N | method | ART (s) | p95 (s) | slowdown | ART / {reference.upper()} | ART / lower bound |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.art / ref[r.num_servers]:.3f}" if r.num_servers in ref else "-"
        lines.append(
            f"| {r.num_servers} | {r.method} | {r.art:.2f} | {r.p95:.2f} | {r.slowdown:.2f} | {ratio} | "
            f"{r.art / r.lower_bound:.3f} |"
        )
    return "\n".join(lines)


def rows_to_json(rows: list[Row]) -> list[dict]:
    return [r.__dict__.copy() for r in rows]
