"""Seeded workload generation: a pattern mix, a role table and Poisson arrivals at offered load rho."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.sim.generators.patterns import PATTERNS, STRUCTURES
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster, ClusterSpec
from scale_pl.sim.system.workload import Workflow, Workload

_COUNT_CACHE: dict[tuple, np.ndarray] = {}

DEFAULT_ROLES: dict[str, list[str]] = {
    "plan": ["llm_plan"],
    "generate": ["llm_generate"],
    "act": ["tool_api", "retrieval", "code_exec"],
    "retrieve": ["retrieval"],
    "compute": ["code_exec"],
    "perceive": ["vision"],
}


@dataclass
class WorkloadGenerator:
    """Makes seeded workloads: one seed gives one workload, bit for bit.

    Args:
        catalogue: the primitives.
        pattern_mix: weight per pattern name (see :data:`~scale_pl.sim.generators.patterns.PATTERNS`).
        roles: primitives each pattern role may become (drawn uniformly).
        rho: target offered load on the bottleneck server class (0 < rho).
        num_workflows: workflows per workload.
        work_spread: expected work of a task is the primitive's work times U(1 - s, 1 + s).
        uncertainty: multiplies each primitive's CV (0 = actual work equals expected work).
        burst_factor: arrivals alternate between bursts at ``burst_factor`` x the mean rate and
            calm periods, keeping the mean rate (1 = plain Poisson).
        burst_period: mean length in seconds of one burst-plus-calm cycle.
        stage_roles: weight per role of the structural patterns' stages (``fan_out``, ``chain``,
            ``stages``); None: :data:`~scale_pl.sim.generators.patterns.STAGE_ROLES` at their
            default weights. Each role must be in ``roles``; name roles of one primitive each, or
            a stage is not single-type.
        type_work_range: ``[low, high]``: each workflow scales every type's expected (and actual)
            work by its own factor, log-uniform in ``[low, high]`` and shared by the workflow's
            tasks of that type, so which primitive is the heavy one varies between workflows (a
            tool call that is a 10-minute download, a code step of milliseconds). None: no scaling.
            The arrival rate counts the factor's mean, so rho is still the offered load.
        type_work_share: the share of workflows that draw those factors (with ``type_work_range``);
            the others keep the catalogue's work, so a mix can vary some workflows' heavy type
            without drowning the rest. 1 (the default) = every workflow.
    """

    catalogue: Catalogue
    pattern_mix: dict[str, float]
    roles: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    rho: float = 0.7
    num_workflows: int = 100
    work_spread: float = 0.5
    uncertainty: float = 1.0
    burst_factor: float = 1.0
    burst_period: float = 60.0
    stage_roles: dict[str, float] | None = None
    type_work_range: tuple[float, float] | None = None
    type_work_share: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rho) and self.rho > 0):
            raise ScaleError(f"rho must be > 0, got {self.rho}")
        if int(self.num_workflows) != self.num_workflows or self.num_workflows < 1:
            raise ScaleError(f"num_workflows must be an integer >= 1, got {self.num_workflows}")
        if not 0 <= self.work_spread < 1:
            raise ScaleError(f"work_spread must be in [0, 1), got {self.work_spread}")
        if self.uncertainty < 0:
            raise ScaleError(f"uncertainty must be >= 0, got {self.uncertainty}")
        if self.burst_factor < 1:
            raise ScaleError(f"burst_factor must be >= 1, got {self.burst_factor}")
        for name, weight in self.pattern_mix.items():
            if name not in PATTERNS:
                raise ScaleError(f"pattern mix: unknown pattern {name!r} (known: {', '.join(PATTERNS)})")
            if not math.isfinite(weight) or weight < 0:
                raise ScaleError(f"pattern mix: weight for {name!r} must be >= 0, got {weight}")
        total = sum(self.pattern_mix.values())
        if total <= 0:
            raise ScaleError("pattern mix: weights sum to 0")
        self._check_stage_roles()
        self._check_type_work_range()
        self._check_type_work_share()
        self._patterns = [p for p, w in self.pattern_mix.items() if w > 0]
        self._probs = np.array([self.pattern_mix[p] for p in self._patterns]) / total
        self._role_types = {}
        for role, prims in self.roles.items():
            if not prims:
                raise ScaleError(f"pattern role {role!r}: no primitives given")
            try:
                self._role_types[role] = [self.catalogue.index(p) for p in prims]
            except ScaleError as exc:
                raise ScaleError(f"pattern role {role!r}: {exc}") from None

    def _check_stage_roles(self) -> None:
        if self.stage_roles is None:
            return
        if not isinstance(self.stage_roles, dict) or not self.stage_roles:
            raise ScaleError(f"stage_roles must be a non-empty mapping of role to weight, got {self.stage_roles!r}")
        for role, weight in self.stage_roles.items():
            if role not in self.roles:
                raise ScaleError(f"stage_roles: role {role!r} has no entry in the role table")
            if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
                raise ScaleError(f"stage_roles: weight for {role!r} must be a number >= 0, got {weight!r}")
        if sum(self.stage_roles.values()) <= 0:
            raise ScaleError("stage_roles: weights sum to 0")
        self.stage_roles = {r: float(w) for r, w in self.stage_roles.items() if w > 0}

    def _check_type_work_range(self) -> None:
        if self.type_work_range is None:
            return
        bounds = self.type_work_range
        ok = isinstance(bounds, list | tuple) and len(bounds) == 2
        ok = ok and all(isinstance(b, int | float) and math.isfinite(b) and b > 0 for b in bounds)
        if not ok or bounds[0] > bounds[1]:
            raise ScaleError(f"type_work_range must be [low, high] with 0 < low <= high, got {bounds!r}")
        self.type_work_range = (float(bounds[0]), float(bounds[1]))

    def _check_type_work_share(self) -> None:
        share = self.type_work_share
        if not isinstance(share, int | float) or not 0 < share <= 1:
            raise ScaleError(f"type_work_share must be in (0, 1], got {share!r}")
        if share < 1 and self.type_work_range is None:
            raise ScaleError("type_work_share needs type_work_range (the factors it applies to)")
        self.type_work_share = float(share)

    def type_work_mean(self) -> float:
        """The mean of a workflow's per-type work factor (1 without ``type_work_range``; a workflow
        outside ``type_work_share`` counts as factor 1)."""
        if self.type_work_range is None:
            return 1.0
        low, high = self.type_work_range
        drawn = low if low == high else (high - low) / math.log(high / low)
        return self.type_work_share * drawn + (1.0 - self.type_work_share)

    # -- workflows -------------------------------------------------------------------------------
    def _shape(self, rng: np.random.Generator) -> tuple[str, np.ndarray, list[tuple[int, int]]]:
        """A pattern drawn from the mix, its roles mapped to type indices, and its edges."""
        pattern = self._patterns[rng.choice(len(self._patterns), p=self._probs)]
        extra = {"stage_roles": self.stage_roles} if pattern in STRUCTURES and self.stage_roles else {}
        roles, edges = PATTERNS[pattern](rng, **extra)
        types = np.empty(len(roles), dtype=np.int64)
        for i, role in enumerate(roles):
            choices = self._role_types.get(role)
            if choices is None:
                raise ScaleError(f"pattern {pattern!r}: role {role!r} has no entry in the role table")
            types[i] = choices[rng.integers(len(choices))]
        return pattern, types, edges

    def workflow(self, rng: np.random.Generator, wid: str, arrival: float) -> Workflow:
        """One workflow of a pattern drawn from the mix."""
        pattern, types, edges = self._shape(rng)
        base = np.array([self.catalogue[k].work for k in types])
        # Drawn only when set, and the share's coin only below 1: workloads without them are unchanged.
        varied = self.type_work_range is not None
        if varied and self.type_work_share < 1:
            varied = bool(rng.random() < self.type_work_share)
        if varied:
            low, high = self.type_work_range
            base = base * np.exp(rng.uniform(math.log(low), math.log(high), size=len(self.catalogue)))[types]
        cv = np.array([self.catalogue[k].cv for k in types]) * self.uncertainty
        expected = base * rng.uniform(1 - self.work_spread, 1 + self.work_spread, size=types.size)
        sigma2 = np.log1p(cv**2)
        actual = expected * np.exp(rng.normal(-sigma2 / 2, np.sqrt(sigma2)))  # mean-one log-normal
        output = np.array([self.catalogue[k].output_mb for k in types]) * rng.uniform(0.5, 1.5, size=types.size)
        return Workflow(wid, arrival, types, expected, actual, output, np.array(edges).reshape(-1, 2), pattern=pattern)

    # -- arrivals --------------------------------------------------------------------------------
    def load_per_workflow(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean expected work and mean task count per type in one workflow, ``([K], [K])``.

        Counts are estimated once from 4000 workflow shapes of a fixed seed (cached per pattern
        mix and role table), so every workload of this generator has the same arrival rate; the
        expected work per task averages the catalogue's work (its spread has mean 1) times the
        mean of the per-type factor (:meth:`type_work_mean`).
        """
        stage = tuple(self.stage_roles.items()) if self.stage_roles else None
        key = (tuple(self.pattern_mix.items()), tuple((r, tuple(p)) for r, p in self.roles.items()),
               tuple(self.catalogue.names), stage)  # fmt: skip
        if key not in _COUNT_CACHE:
            rng = np.random.default_rng(12345)
            count = np.zeros(len(self.catalogue))
            n = 4000
            for _ in range(n):
                np.add.at(count, self._shape(rng)[1], 1.0)
            _COUNT_CACHE[key] = count / n
        count = _COUNT_CACHE[key]
        work = count * np.array([p.work for p in self.catalogue.primitives]) * self.type_work_mean()
        return work, count

    def arrival_rate(self, cluster: Cluster) -> float:
        """Workflows per second that load the most loaded server class to ``rho``.

        Each type's work is spread over the classes that can run it in proportion to their
        capacity (count x slots x speed); a class's busy fraction is then
        sum_k (E_k + n_k L_k s_ck) / Cap_k per unit arrival rate, where E_k is the expected work
        of type k per workflow, n_k its task count, L_k its latency floor and Cap_k the total
        capacity for k. rho is the largest of these busy fractions times the rate.
        """
        work, count = self.load_per_workflow()
        used = {int(k) for k in np.flatnonzero(count)}
        cluster.check_runnable(used)
        capacity = (cluster.speed * cluster.slots[:, None]).sum(axis=0)  # [K]
        latency = np.array([p.latency for p in self.catalogue.primitives])
        busiest = 0.0
        for c in np.unique(cluster.server_class):
            speed = cluster.speed[cluster.server_class == c][0]
            runs = (speed > 0) & (count > 0)
            busy = ((work[runs] + count[runs] * latency[runs] * speed[runs]) / capacity[runs]).sum()
            busiest = max(busiest, float(busy))
        return self.rho / busiest

    def arrivals(self, rng: np.random.Generator, rate: float) -> np.ndarray:
        """``[num_workflows]`` arrival times: Poisson, or bursty with the same mean rate."""
        n = self.num_workflows
        if self.burst_factor == 1:
            return np.cumsum(rng.exponential(1.0 / rate, size=n))
        # Two-state modulated Poisson: half of each cycle's time at rate r_hi, half at r_lo,
        # r_hi = factor x rate, r_lo = (2 - factor) x rate clipped at 5% of the rate.
        hi = self.burst_factor * rate
        lo = max(2 * rate - hi, 0.05 * rate)
        times, t, state_hi = [], 0.0, True
        end_state = rng.exponential(self.burst_period / 2)
        while len(times) < n:
            t_next = t + rng.exponential(1.0 / (hi if state_hi else lo))
            if t_next > end_state:
                t, state_hi = end_state, not state_hi
                end_state = t + rng.exponential(self.burst_period / 2)
                continue
            t = t_next
            times.append(t)
        return np.array(times)

    def generate(self, cluster: Cluster, seed: int) -> Workload:
        """The workload of ``seed`` for ``cluster`` (the arrival rate grows with the cluster)."""
        rng = np.random.default_rng(seed)
        arrivals = self.arrivals(rng, self.arrival_rate(cluster))
        flows = [self.workflow(rng, f"w{i}", float(a)) for i, a in enumerate(arrivals)]
        return Workload(self.catalogue, flows)


def workloads(generator: WorkloadGenerator, spec: ClusterSpec, num_servers: int, seeds: Sequence[int]) -> list:
    """The same (workload, cluster) pairs for every method: one per seed, on the N-server cluster of ``spec``."""
    cluster = spec.make(num_servers, generator.catalogue)
    return [(generator.generate(cluster, s), cluster) for s in seeds]
