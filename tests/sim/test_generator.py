"""Workload generation: seeding, pattern shapes, the arrival rate at offered load rho, the cluster mix."""

from __future__ import annotations

import numpy as np
import pytest

from scale_pl.errors import ScaleError
from scale_pl.sim.generators.config import CONF_DIR, load_cluster_spec, load_generator
from scale_pl.sim.generators.generator import DEFAULT_ROLES, WorkloadGenerator
from scale_pl.sim.generators.patterns import PATTERNS
from scale_pl.sim.system.catalogue import Catalogue, Primitive
from scale_pl.sim.system.cluster import Cluster, ClusterSpec, ServerClass


@pytest.fixture(scope="module")
def default():
    generator = load_generator(num_workflows=300)
    return generator, load_cluster_spec()


def test_one_seed_gives_one_workload_bit_for_bit(default) -> None:
    generator, spec = default
    cluster = spec.make(16, generator.catalogue)
    a, b, c = generator.generate(cluster, 7), generator.generate(cluster, 7), generator.generate(cluster, 8)
    for fa, fb in zip(a.workflows, b.workflows, strict=True):
        assert fa.arrival == fb.arrival and fa.pattern == fb.pattern
        assert np.array_equal(fa.work, fb.work) and np.array_equal(fa.edges, fb.edges)
    assert [f.arrival for f in a.workflows] != [f.arrival for f in c.workflows]


SIZE_BOUNDS = {"fan_out": (6, 63), "chain": (10, 40), "stages": (4, 64)}  # the rest: 2..42


def test_every_pattern_is_a_connected_dag_within_size() -> None:
    rng = np.random.default_rng(0)
    for name, pattern in PATTERNS.items():
        low, high = SIZE_BOUNDS.get(name, (2, 42))
        for _ in range(200):
            roles, edges = pattern(rng)
            assert low <= len(roles) <= high, name
            assert all(p < c for p, c in edges), name  # built in topological order
            assert len(set(edges)) == len(edges), name
            assert _weakly_connected(len(roles), edges), name


def test_every_pattern_role_is_in_the_default_role_table() -> None:
    rng = np.random.default_rng(1)
    for name, pattern in PATTERNS.items():
        roles = {r for _ in range(300) for r in pattern(rng)[0]}
        assert roles <= set(DEFAULT_ROLES), (name, roles - set(DEFAULT_ROLES))


def _weakly_connected(n: int, edges: list[tuple[int, int]]) -> bool:
    label = list(range(n))

    def find(i: int) -> int:
        while label[i] != i:
            i = label[i]
        return i

    for p, c in edges:
        label[find(p)] = find(c)
    return len({find(i) for i in range(n)}) == 1


def test_arrival_rate_matches_the_bottleneck_formula(monkeypatch) -> None:
    # A runs on GPUs only (speed 2), B on both (speed 1); per workflow: one A of work 4, two B of work 3
    # with latency 0.5. Cap_A = 2*1*2 = 4, Cap_B = 2*1*1 + 2*2*1 = 6.
    # GPU busy per unit rate = 4/4 + (6 + 2*0.5*1)/6 = 13/6; CPU = 7/6. rho 0.65 -> rate 0.3.
    cat = Catalogue([Primitive("A", 4.0), Primitive("B", 3.0, latency=0.5)])
    classes = [ServerClass("gpu", {"A": 2.0, "B": 1.0}, slots=1), ServerClass("cpu", {"B": 1.0}, slots=2)]
    cluster = Cluster(cat, classes, np.array([0, 0, 1, 1]))
    gen = WorkloadGenerator(cat, {"react": 1.0}, roles={r: ["A"] for r in ("plan", "generate", "act")}, rho=0.65)
    monkeypatch.setattr(gen, "load_per_workflow", lambda: (np.array([4.0, 6.0]), np.array([1.0, 2.0])))
    assert gen.arrival_rate(cluster) == pytest.approx(0.3)


def test_rate_grows_with_n_and_poisson_gaps_have_the_right_mean(default) -> None:
    generator, spec = default
    r16 = generator.arrival_rate(spec.make(16, generator.catalogue))
    r32 = generator.arrival_rate(spec.make(32, generator.catalogue))
    assert r32 == pytest.approx(2 * r16)  # same class mix at both sizes
    arrivals = generator.arrivals(np.random.default_rng(1), r16)
    gaps = np.diff(np.concatenate([[0.0], arrivals]))
    assert gaps.mean() == pytest.approx(1 / r16, rel=0.15)  # 300 exponential gaps: sd of mean ~6%


def test_bursty_arrivals_keep_the_mean_rate() -> None:
    gen = load_generator(num_workflows=4000, burst_factor=1.8, burst_period=30.0)
    arrivals = gen.arrivals(np.random.default_rng(3), rate=2.0)
    assert len(arrivals) == 4000 and np.all(np.diff(arrivals) >= 0)
    assert 4000 / arrivals[-1] == pytest.approx(2.0, rel=0.1)
    counts = np.histogram(arrivals, bins=np.arange(0, arrivals[-1], 5.0))[0]
    assert counts.var() > 1.5 * counts.mean()  # overdispersed, unlike Poisson (var = mean)


def test_actual_work_is_unbiased_around_expected_work(default) -> None:
    generator, spec = default
    wl = generator.generate(spec.make(16, generator.catalogue), 0)
    ratio = np.concatenate([f.work / f.expected_work for f in wl.workflows])
    assert ratio.mean() == pytest.approx(1.0, abs=0.08)
    exact = load_generator(num_workflows=20, uncertainty=0.0).generate(spec.make(16, generator.catalogue), 0)
    assert all(np.allclose(f.work, f.expected_work) for f in exact.workflows)


def test_cluster_counts_keep_the_mix() -> None:
    spec = ClusterSpec([ServerClass("a", {"x": 1.0}), ServerClass("b", {"x": 1.0})], {"a": 1.0, "b": 3.0})
    assert spec.counts(4) == {"a": 1, "b": 3}
    assert spec.counts(5) == {"a": 1, "b": 4}  # remainders .25 and .75
    assert spec.counts(1) == {"a": 0, "b": 1}
    assert sum(spec.counts(37).values()) == 37


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rho": 0.0}, "rho must be > 0"),
        ({"rho": -1.0}, "rho must be > 0"),
        ({"pattern_mix": {"react": 0.0}}, "weights sum to 0"),
        ({"pattern_mix": {"reactt": 1.0}}, "unknown pattern 'reactt'"),
        ({"roles": {"plan": ["llm_plann"]}}, "role 'plan': unknown primitive 'llm_plann'"),
        ({"num_workflows": 0}, "num_workflows must be an integer >= 1"),
    ],
)
def test_bad_generator_values(kwargs, message) -> None:
    with pytest.raises(ScaleError, match=message):
        load_generator(**kwargs)


def test_bad_cluster_values() -> None:
    spec = load_cluster_spec()
    cat = load_generator().catalogue
    with pytest.raises(ScaleError, match="N must be an integer >= 1"):
        spec.make(0, cat)
    with pytest.raises(ScaleError, match="slots must be an integer >= 1"):
        ServerClass("s", {"x": 1.0}, slots=0)
    only_cpu = ClusterSpec([ServerClass("cpu", {"code_exec": 1.0})], {"cpu": 1.0})
    with pytest.raises(ScaleError, match="primitive 'llm_plan': no server in the cluster can run it"):
        load_generator().arrival_rate(only_cpu.make(4, cat))


def test_a_workload_config_with_a_base_takes_the_base_then_its_own_keys(tmp_path) -> None:
    from scale_pl.sim.generators.config import read_workload_config

    base = load_generator()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "top.yaml").write_text("base: ../mid.yaml\nrho: 0.4\n")
    (tmp_path / "mid.yaml").write_text(f"base: {CONF_DIR / 'workload' / 'default.yaml'}\nrho: 0.9\nnum_workflows: 7\n")
    spec = read_workload_config(tmp_path / "sub" / "top.yaml")
    assert "base" not in spec and spec["rho"] == 0.4 and spec["num_workflows"] == 7  # nearest file wins
    gen = load_generator(tmp_path / "sub" / "top.yaml")
    assert gen.catalogue.primitives == base.catalogue.primitives and gen.pattern_mix == base.pattern_mix
    assert (gen.rho, gen.num_workflows) == (0.4, 7)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, r"bases form a cycle at .*a.yaml"),
        ({"a.yaml": "base: [b.yaml]\n"}, r"'base' must be a file name, got \['b.yaml'\]"),
        ({"a.yaml": "base: missing.yaml\n"}, r"missing.yaml: no such file"),
    ],
)
def test_bad_workload_config_bases(tmp_path, files, message) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ScaleError, match=message):
        load_generator(tmp_path / "a.yaml")
