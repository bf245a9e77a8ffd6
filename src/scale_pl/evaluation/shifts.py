"""Zero-shot generalisation beyond cluster size: load, DAG-pattern and real-trace shifts.

Every setting is a set of seeded test workloads per cluster size N on which each policy runs, as in
:func:`~scale_pl.evaluation.across_n.evaluate` (same workloads for every method). The settings:

``load_0.5``, ``load_0.85``
    conf/workload/default.yaml (trained at rho 0.7) with the offered load set to 0.5 or 0.85.
``patterns``
    conf/workload/patterns_unseen.yaml: only ``tree_of_thought`` and ``map_reduce`` workflows, the two
    patterns conf/workload/patterns_seen.yaml (the training side) leaves out. Same catalogue as
    default.yaml, so the feature dimensions of a checkpoint trained on either config match.
``wfinstances``
    The WfCommons traces of tests/data/wfinstances, read once with
    :func:`~scale_pl.io.workload_sources.load_workload` and cycled to ``workflows_per_server x N``
    workflows (each trace equally often, +-1), their order shuffled by the seed; Poisson arrivals from
    :func:`~scale_pl.io.workload_sources.wfformat_arrivals` with the same seed.

The arrival rate of the trace workloads follows the synthetic workloads' rule
(:meth:`WorkloadGenerator.arrival_rate <scale_pl.sim.generators.generator.WorkloadGenerator.arrival_rate>`):
the rate that loads the busiest server class to ``rho`` (default: the workload config's, 0.7), where
the expected work and task count per type and workflow are the means over the cycled traces. The
cluster's capacity grows with N, so the rate does too and the load is the same at every N.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.evaluation.across_n import DEFAULT_CAP, Row, evaluate, evaluate_across_n
from scale_pl.evaluation.stats import iqm_interval, mean
from scale_pl.evaluation.tables import rows_to_json, scores
from scale_pl.io.workload_sources import load_workload, wfformat_arrivals
from scale_pl.sim.generators.config import CONF_DIR, load_cluster_spec, load_generator
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.workload import Workflow, Workload

SETTINGS: dict[str, str] = {
    "load_0.5": "default workload at rho 0.5",
    "load_0.85": "default workload at rho 0.85",
    "patterns": "unseen patterns (tree_of_thought, map_reduce) at rho 0.7",
    "wfinstances": "WfInstances traces, Poisson arrivals",
}
LOADS = {"load_0.5": 0.5, "load_0.85": 0.85}
PATTERNS_UNSEEN = CONF_DIR / "workload" / "patterns_unseen.yaml"
TRACES = str(CONF_DIR.parent / "tests" / "data" / "wfinstances" / "*.json")
HEURISTICS = ("eft", "rank_eft", "least_loaded")
REFERENCE = "eft"


def check_settings(names: Sequence[str]) -> list[str]:
    """``names`` as a list, or a one-line error naming the first unknown one."""
    for name in names:
        if name not in SETTINGS:
            raise ScaleError(f"--settings: unknown setting {name!r} (known: {', '.join(SETTINGS)})")
    return list(dict.fromkeys(names))


def trace_paths(pattern: str | Sequence[str] = TRACES) -> list[Path]:
    """The trace files of a glob (or of several paths/globs), sorted; a one-line error if there are none."""
    specs = [pattern] if isinstance(pattern, str) else list(pattern)
    paths: list[Path] = []
    for spec in specs:
        matches = sorted(glob.glob(spec)) if any(c in spec for c in "*?[") else [spec]
        if not matches:
            raise ScaleError(f"--traces {spec}: matches no file")
        paths += [Path(m) for m in matches]
    if not paths:
        raise ScaleError("--traces: no trace file given")
    return paths


class TraceWorkloads:
    """Seeded workloads of real traces for any cluster: what :func:`evaluate` needs of a generator.

    Args:
        paths: WfFormat traces (or scale_pl workload files), read once.
        workflows_per_server: a workload for N servers has this x N workflows.
        rho: target load of the busiest server class (default: the workload config's rho).
        workload_config: the catalogue (default conf/workload/default.yaml, as the checkpoints).
        wfformat_config: the program-to-type mapping (default conf/wfformat/default.yaml).
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        workflows_per_server: int = 4,
        rho: float | None = None,
        workload_config: str | Path | None = None,
        wfformat_config: str | Path | None = None,
    ) -> None:
        base = load_workload(paths, workload_config=workload_config, wfformat_config=wfformat_config)
        self.catalogue = base.catalogue
        self.traces: list[Workflow] = base.workflows
        self.workflows_per_server = workflows_per_server
        # The config's generator supplies rho and the rate rule (the catalogue is the same).
        self._generator = load_generator(workload_config, **({} if rho is None else {"rho": rho}))
        self.rho = self._generator.rho

    def cycled(self, count: int) -> list[Workflow]:
        """``count`` traces in file order, repeated: each appears ``count // T`` or one more times."""
        return list(itertools.islice(itertools.cycle(self.traces), count))

    def arrival_rate(self, cluster: Cluster) -> float:
        """Workflows per second that load the busiest class of ``cluster`` to ``rho`` (see the module doc)."""
        flows = self.cycled(self.workflows_per_server * cluster.num_servers)
        k = len(self.catalogue)
        work = sum(np.bincount(f.types, weights=f.expected_work, minlength=k) for f in flows) / len(flows)
        count = sum(np.bincount(f.types, minlength=k).astype(float) for f in flows) / len(flows)
        generator = dataclasses.replace(self._generator)  # a copy whose per-workflow load is the traces'
        generator.load_per_workflow = lambda: (work, count)  # type: ignore[method-assign]
        return generator.arrival_rate(cluster)

    def generate(self, cluster: Cluster, seed: int) -> Workload:
        """The workload of ``seed`` for ``cluster``: cycled traces, shuffled, with Poisson arrivals."""
        flows = self.cycled(self.workflows_per_server * cluster.num_servers)
        order = np.random.default_rng([seed, 1]).permutation(len(flows))
        arrivals = wfformat_arrivals(len(flows), None, self.arrival_rate(cluster), seed)
        seen: dict[str, int] = {}
        out = []
        for i, arrival in zip(order.tolist(), arrivals, strict=True):
            f = flows[i]
            seen[f.id] = seen.get(f.id, 0) + 1
            wid = f.id if seen[f.id] == 1 else f"{f.id}#{seen[f.id]}"  # as load_workload names repeats
            out.append(dataclasses.replace(f, id=wid, arrival=float(arrival)))
        return Workload(self.catalogue, out)


def run_setting(
    setting: str,
    policies: dict[str, Callable[[], object]],
    sizes: Sequence[int],
    seeds: Sequence[int],
    workflows_per_server: int = 4,
    groups: dict[str, str] | None = None,
    information: str = "expected",
    cluster_config: str | None = None,
    traces: str | Sequence[str] = TRACES,
    progress: Callable[[str], None] | None = None,
    cap: float = DEFAULT_CAP,
) -> list[Row]:
    """Every policy at every N on the test workloads of one setting (rows as :func:`evaluate`'s)."""
    check_settings([setting])
    common = {"progress": progress, "groups": groups, "information": information, "cap": cap}
    if setting in LOADS:
        return evaluate_across_n(policies, None, cluster_config, sizes, seeds, workflows_per_server,
                                 rho=LOADS[setting], **common)  # fmt: skip
    if setting == "patterns":
        return evaluate_across_n(policies, str(PATTERNS_UNSEEN), cluster_config, sizes, seeds, workflows_per_server,
                                 **common)  # fmt: skip
    source = TraceWorkloads(trace_paths(traces), workflows_per_server)
    spec = load_cluster_spec(cluster_config)
    return evaluate(policies, source, spec, sizes, seeds, **common)  # type: ignore[arg-type]


def ratios(rows: Sequence[Row], reference: str = REFERENCE) -> dict[tuple[str, int], list[float]]:
    """Per (method group, N): each run's ART over the reference's mean ART at that N (the reference: 1.0)."""
    ref: dict[int, list[float]] = {}
    for r in rows:
        if r.group == reference:
            ref.setdefault(r.num_servers, []).append(r.art)
    if not ref:
        raise ScaleError(f"no {reference!r} rows to take ratios to")
    out: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        base = ref[r.num_servers]
        mean = base[0] if len(base) == 1 else sum(base) / len(base)
        out.setdefault((r.group, r.num_servers), []).append(r.art / mean)
    return out


def format_shift_table(results: dict[str, list[Row]], reference: str = REFERENCE) -> str:
    """One markdown row per (setting, N): the reference's ART, then each method's ART / reference ART.

    A method of several runs (training seeds) shows the interquartile mean of its per-workload ratios
    [stratified-bootstrap 95% interval] and each run's own ratio; ``>`` marks a lower bound (a
    censored run).
    """
    methods = list(dict.fromkeys(r.group for rows in results.values() for r in rows))
    ref = reference.upper()
    lines = [
        f"| setting | N | {ref} ART (s) | " + " | ".join(f"{m} / {ref}" for m in methods) + " |",
        "|---|---:|---:|" + "---:|" * len(methods),
    ]
    for setting, rows in results.items():
        by_group = ratios(rows, reference)
        for n in dict.fromkeys(r.num_servers for r in rows):
            reference_rows = [r for r in rows if r.group == reference and r.num_servers == n]
            cells = []
            for m in methods:
                members = [r for r in rows if r.group == m and r.num_servers == n]
                values = by_group.get((m, n))
                more = "> " if any(r.num_censored for r in members) else ""
                if not values:
                    cells.append("-")
                elif len(values) == 1:
                    cells.append(f"{more}{values[0]:.3f}")
                else:
                    s = iqm_interval(scores(members, reference_rows)[1])
                    each = ", ".join(f"{v:.3f}" for v in values)
                    cells.append(f"{more}{s.iqm:.3f} [{s.low:.3f}, {s.high:.3f}] ({each})")
            ref_art = mean([r.art for r in reference_rows])
            lines.append(f"| {setting} | {n} | {ref_art:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def shift_rows_to_json(results: dict[str, list[Row]]) -> list[dict]:
    """The rows of every setting, each with its ``setting`` added."""
    return [{"setting": s, **d} for s, rows in results.items() for d in rows_to_json(rows)]
