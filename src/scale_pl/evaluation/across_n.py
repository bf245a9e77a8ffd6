"""Evaluate policies at several cluster sizes on identical seeded workloads.

At each N the test workloads are one batch. EFT, the reference, runs first: its ART on each
workload sets that workload's cap (``cap`` x EFT's ART, :mod:`~scale_pl.sim.batched.censor`), and a
run certain to exceed it stops there and is reported as censored. The other heuristics then
share one environment: each decides for its own copy of the batch's rows in an environment of
``B x heuristics`` rows (up to :data:`PACK` rows), so the environment steps once for all of them
(at N=96-256 a step of 16 rows costs far less than four steps of 4). Learned policies, and the
lookahead (it searches over copies of the environment), run alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from scale_pl.baselines import HEURISTICS, make_heuristic
from scale_pl.losses.srr import feature_stats
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.censor import ArtCap
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.generators.generator import WorkloadGenerator, workloads
from scale_pl.sim.system.cluster import ClusterSpec
from scale_pl.sim.system.observation import Observation
from scale_pl.sim.system.workload import Workload

REFERENCE = "eft"
DEFAULT_CAP = 10.0
PACK = 64  # environments stepped together at most (memory: at N=256 a [64, T] state tensor is 20 MB)


@dataclass
class Row:
    """One method at one N, averaged over the seeded workloads.

    ``group`` names the method a row belongs to when several rows are one method's training seeds
    (``scale`` from three checkpoints); it defaults to ``method``. ``pattern_art`` is the mean
    response time of each DAG pattern's workflows, pooled over the workloads; ``z`` the mean, std,
    KL to N(0, I) and decorrelation of a learned policy's attention feature over its decisions;
    ``diagnostics`` what the policy's ``diagnostics()`` reported (tie share, entropy, z moments).

    Per test workload (in seed order): ``workload_art`` and ``censored``. A censored workload
    (stopped once certain to exceed ``cap`` x EFT's ART) holds the certain lower bound on its ART
    at the stop, and every response-time figure of the row (``art``, ``p95``, ``p99``,
    ``slowdown``, ``pattern_art``) is then a lower bound built from per-workflow lower bounds;
    ``utilisation`` is NaN. ``num_censored`` counts the censored workloads; ``cap`` is K (0: off).
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
    diagnostics: dict[str, float] = field(default_factory=dict)
    workload_art: list[float] = field(default_factory=list)
    censored: list[bool] = field(default_factory=list)
    num_censored: int = 0
    cap: float = 0.0

    def __post_init__(self) -> None:
        self.group = self.group or self.method
        for name in ("art", "p95", "p99", "slowdown", "utilisation", "lower_bound"):  # JSON writes NaN as null
            if getattr(self, name) is None:
                setattr(self, name, float("nan"))
        self.num_censored = sum(self.censored) if self.censored else self.num_censored


def pattern_means(response_times: np.ndarray, loads: Sequence[Workload]) -> dict[str, float]:
    """Mean response time per pattern; ``response_times`` is ``[B, W+1]`` with workflow j in row j."""
    pooled: dict[str, list[float]] = defaultdict(list)
    for rt, wl in zip(response_times, loads, strict=True):
        for j, wf in enumerate(wl.workflows):
            pooled[wf.pattern or "?"].append(float(rt[j]))
    return {name: float(np.nanmean(v)) for name, v in sorted(pooled.items())}


def _bounded_metrics(env: SchedulingEnv, cap: ArtCap | None) -> dict[str, torch.Tensor]:
    """The episode metrics ``[B]``, and ``response`` ``[B, W+1]``; on censored rows every response-time
    figure comes from the per-workflow lower bounds at the stop and utilisation is NaN."""
    m = env.metrics()
    response = env.response_times()
    if cap is None or not bool(cap.censored.any()):
        return {**m, "response": response}
    c = cap.censored
    bounds = cap.workflow_bounds(env)  # [B, W+1], NaN on uncensored rows and padding
    cp = torch.where(env.batch.wf_valid, env.critical_path, float("nan"))
    capped = {
        "art": cap.bound,
        "p95": bounds.nanquantile(0.95, dim=1),
        "p99": bounds.nanquantile(0.99, dim=1),
        "slowdown": (bounds / cp).nanmean(1),
        "utilisation": torch.full_like(cap.bound, float("nan")),
    }
    out = {k: torch.where(c, capped[k], v) if k in capped else v for k, v in m.items()}
    return {**out, "response": torch.where(c[:, None], bounds, response)}


def _policy_rows(
    name: str,
    n: int,
    policy: object,
    m: dict[str, torch.Tensor],
    rows: slice,
    pairs: list,
    group: str,
    cap: ArtCap | None,
    k: float,
) -> Row:
    """The :class:`Row` of ``policy``'s environments ``rows`` of a finished (pack) environment; ``m`` holds
    :func:`_bounded_metrics` of every environment, ``k`` is the cap's K."""
    per = {key: value[rows].double().cpu() for key, value in m.items()}
    censored = cap.censored[rows].cpu().tolist() if cap is not None else [False] * len(pairs)
    features = getattr(policy, "features", None)  # GreedyPolicy(record_features=True)
    diagnostics = getattr(policy, "diagnostics", None)
    utilisation = per["utilisation"]
    return Row(
        name,
        n,
        *(float(per[key].mean()) for key in ("art", "p95", "p99", "slowdown")),
        float("nan") if any(censored) else float(utilisation.mean()),
        float(per["lower_bound"].mean()),
        group=group,
        pattern_art=pattern_means(per["response"].numpy(), [wl for wl, _ in pairs]),
        z=feature_stats(torch.cat(features)) if features else {},
        diagnostics={key: float(v) for key, v in diagnostics().items()} if callable(diagnostics) else {},
        workload_art=per["art"].tolist(),
        censored=censored,
        cap=k,
    )


class _Packed:
    """Several policies, each deciding for its own block of ``size`` rows of one environment."""

    def __init__(self, policies: list[object], size: int) -> None:
        self.policies, self.size = policies, size

    def reset(self, batch_size: int) -> None:
        for policy in self.policies:
            policy.reset(self.size)

    def __call__(self, obs: Observation) -> torch.Tensor:
        action = torch.zeros(obs.batch_size, dtype=torch.long, device=obs.mask.device)
        for i, policy in enumerate(self.policies):
            rows = slice(i * self.size, (i + 1) * self.size)
            if not bool(obs.done[rows].all()):  # a policy whose every run has ended is not asked
                action[rows] = policy(obs.index(rows))
        return action


def _shares(policy: object) -> bool:
    """Whether ``policy`` may share an environment: the registry's heuristics only. A learned policy
    runs alone: one that collapses piles work onto a few servers, and the queue table of its
    environment (``[B, N, Q]``, Q the longest queue of any row) grows, and with it the cost of every
    step of every row, until the cap stops it, and stays grown for the rest of the episode."""
    return isinstance(policy, tuple(HEURISTICS.values()))


def _packs(policies: dict[str, Callable[[], object]], size: int) -> list[list[tuple[str, object]]]:
    """The policies (built by their factories) in groups that share one environment (:func:`_shares`)."""
    per_pack = max(1, PACK // size)
    packs: list[list[tuple[str, object]]] = []
    for name, factory in policies.items():
        policy = factory()
        if _shares(policy) and packs and len(packs[-1]) < per_pack and _shares(packs[-1][0][1]):
            packs[-1].append((name, policy))
        else:
            packs.append([(name, policy)])
    return packs


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
    cap: float = DEFAULT_CAP,
) -> list[Row]:
    """Run each policy (built fresh by its factory) at each N on the workloads of ``seeds``.

    ``groups`` maps a policy name to the method it is a training seed of (default: itself);
    ``information`` is the environment's information model (what every policy knows); ``cap`` is K
    of the censoring cap (0: none). EFT runs first at each N (a row only if ``policies`` has
    ``"eft"``, whose factory must build EFT); rows come in the order of ``sizes``, then ``policies``.
    """
    rows = []
    for n in sizes:
        pairs = workloads(generator, spec, n, seeds)  # first: a workload the cluster cannot run is an error
        if progress and REFERENCE in policies:
            progress(f"N={n} {REFERENCE}")
        batch = WorkloadBatch.from_pairs(pairs).to(device)
        size = len(pairs)
        made: dict[str, Row] = {}
        limit = None
        if REFERENCE in policies or cap > 0:
            env = SchedulingEnv(batch, information=information)
            reference = policies[REFERENCE]() if REFERENCE in policies else make_heuristic(REFERENCE)
            run_episode(env, reference)
            m = _bounded_metrics(env, None)
            if REFERENCE in policies:
                made[REFERENCE] = _policy_rows(REFERENCE, n, reference, m, slice(None), pairs,
                                               (groups or {}).get(REFERENCE, REFERENCE), None, cap)  # fmt: skip
            limit = cap * m["art"] if cap > 0 else None
        others = {name: factory for name, factory in policies.items() if name != REFERENCE}
        for pack in _packs(others, size):
            if progress:
                for name, _ in pack:
                    progress(f"N={n} {name}")
            tiled = batch if len(pack) == 1 else batch.select(torch.arange(size).repeat(len(pack)))
            env = SchedulingEnv(tiled, information=information)
            capper = ArtCap(limit.repeat(len(pack))) if limit is not None else None
            policy = pack[0][1] if len(pack) == 1 else _Packed([p for _, p in pack], size)
            run_episode(env, policy, cap=capper)
            m = _bounded_metrics(env, capper)
            for i, (name, member) in enumerate(pack):
                rows_i = slice(i * size, (i + 1) * size)
                made[name] = _policy_rows(name, n, member, m, rows_i, pairs, (groups or {}).get(name, name),
                                          capper, cap)  # fmt: skip
        rows += [made[name] for name in policies]
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
    cap: float = DEFAULT_CAP,
) -> list[Row]:
    """:func:`evaluate` with ``workflows_per_server x N`` workflows per workload at each N."""
    from scale_pl.sim.generators.config import load_cluster_spec, load_generator

    spec = load_cluster_spec(cluster_config)
    overrides = {} if rho is None else {"rho": rho}
    rows = []
    for n in sizes:
        generator = load_generator(workload_config, num_workflows=workflows_per_server * n, **overrides)
        rows += evaluate(
            policies, generator, spec, [n], seeds, progress=progress, groups=groups, information=information, cap=cap
        )
    return rows
