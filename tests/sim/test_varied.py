"""The generator's stage_roles and type_work_range, and the varied training mix that uses them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scale_pl.errors import ScaleError
from scale_pl.sim.generators.config import load_cluster_spec, load_generator, read_yaml
from scale_pl.sim.generators.patterns import _STAGE_ROLE_P, PATTERNS, STAGE_ROLES, STRUCTURES
from tests.sim.builders import busy_fractions

VARIED = "conf/workload/diverse_varied.yaml"
DIVERSE = "conf/workload/diverse.yaml"


@pytest.mark.parametrize("name", STRUCTURES)
def test_default_stage_weights_given_explicitly_draw_the_same_shapes(name) -> None:
    # The option is a generalisation: today's weights spelled out give today's shapes, draw for draw.
    explicit = dict(zip(STAGE_ROLES, _STAGE_ROLE_P, strict=True))
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    assert [PATTERNS[name](a) for _ in range(50)] == [PATTERNS[name](b, stage_roles=explicit) for _ in range(50)]


def test_stage_roles_choose_the_structures_roles_and_leave_the_agentic_patterns_alone() -> None:
    gen = load_generator(VARIED, num_workflows=400, stage_roles={"call": 1.0})
    wl = gen.generate(load_cluster_spec().make(16, gen.catalogue), 2)
    tool = gen.catalogue.index("tool_api")
    structures = [f for f in wl.workflows if f.pattern in STRUCTURES]
    assert structures and all(set(f.types.tolist()) == {tool} for f in structures)
    agentic = np.concatenate([f.types for f in wl.workflows if f.pattern not in STRUCTURES])
    assert len(set(agentic.tolist())) == len(gen.catalogue)  # every primitive still appears there


def test_varied_mix_draws_call_stages_at_their_weight() -> None:
    rng = np.random.default_rng(0)
    weights = read_yaml(VARIED)["stage_roles"]
    roles = [r for _ in range(3000) for r in PATTERNS["chain"](rng, stage_roles=weights)[0]]
    share = roles.count("call") / len(roles)
    assert share == pytest.approx(weights["call"] / sum(weights.values()), abs=0.03)


def test_type_work_range_scales_each_type_of_a_workflow_by_one_factor() -> None:
    base = load_generator(DIVERSE, num_workflows=300, uncertainty=0.0)
    varied = load_generator(DIVERSE, num_workflows=300, uncertainty=0.0, type_work_range=[0.1, 10.0])
    cluster = load_cluster_spec().make(16, base.catalogue)
    work = np.array([p.work for p in base.catalogue.primitives])
    factors = []
    for f in varied.generate(cluster, 5).workflows:
        ratio = f.expected_work / work[f.types]  # factor x U(0.5, 1.5)
        assert np.allclose(f.work, f.expected_work)  # uncertainty 0: actual = expected
        for k in set(f.types.tolist()):
            r = ratio[f.types == k]
            assert r.max() / r.min() <= 3.0 + 1e-9  # one factor per type: only the spread differs
            factors.append(float(np.median(r)))
        assert ratio.min() >= 0.1 * 0.5 - 1e-12 and ratio.max() <= 10.0 * 1.5 + 1e-12
    logs = np.log10(factors)
    assert np.median(logs) == pytest.approx(0.0, abs=0.15)  # log-uniform on [-1, 1]: median 0
    assert (logs < -0.5).mean() == pytest.approx(0.25, abs=0.07)
    assert (logs > 0.5).mean() == pytest.approx(0.25, abs=0.07)
    # the bounds [1, 1] scale nothing: only work_spread's U(0.5, 1.5) is left
    same = load_generator(DIVERSE, num_workflows=50, type_work_range=[1.0, 1.0]).generate(cluster, 5)
    ratio = np.concatenate([f.expected_work / work[f.types] for f in same.workflows])
    assert ratio.min() >= 0.5 and ratio.max() <= 1.5


def test_type_work_mean_and_the_arrival_rate() -> None:
    assert load_generator(VARIED).type_work_mean() == pytest.approx(9.9 / math.log(100.0))
    assert load_generator(DIVERSE, type_work_range=[2.0, 2.0]).type_work_mean() == 2.0
    assert load_generator(DIVERSE).type_work_mean() == 1.0
    # Doubling every type's work doubles the work term of the busy fraction; the latency floors stay.
    plain, doubled = load_generator(DIVERSE), load_generator(DIVERSE, type_work_range=[2.0, 2.0])
    work, count = plain.load_per_workflow()
    work2, count2 = doubled.load_per_workflow()
    assert np.allclose(work2, 2 * work) and np.array_equal(count, count2)
    cluster = load_cluster_spec().make(16, plain.catalogue)
    assert 0.5 * plain.arrival_rate(cluster) < doubled.arrival_rate(cluster) < plain.arrival_rate(cluster)


def test_varied_offered_load_is_rho() -> None:
    # As for diverse.yaml: the busiest class's busy fraction over a long workload is rho (noisier:
    # a workflow's work now varies 100-fold, so the tolerance is wider).
    gen = load_generator(VARIED, num_workflows=6000)
    cluster = load_cluster_spec().make(16, gen.catalogue)
    busy = busy_fractions(gen.generate(cluster, 11), cluster).values()
    assert max(busy) == pytest.approx(gen.rho, rel=0.1)


def test_varied_mix_keeps_the_catalogue_so_checkpoints_fit() -> None:
    varied, default = read_yaml(VARIED), read_yaml("conf/workload/default.yaml")
    assert varied["catalogue"] == default["catalogue"] and varied["rho"] == default["rho"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stage_roles": {"fetch": 1.0}}, "stage_roles: role 'fetch' has no entry in the role table"),
        ({"stage_roles": {"compute": -1.0}}, "stage_roles: weight for 'compute' must be a number >= 0"),
        ({"stage_roles": {"compute": 0.0}}, "stage_roles: weights sum to 0"),
        ({"stage_roles": {}}, "stage_roles must be a non-empty mapping"),
        ({"type_work_range": [0.0, 1.0]}, r"type_work_range must be \[low, high\] with 0 < low <= high"),
        ({"type_work_range": [2.0, 1.0]}, "type_work_range must be"),
        ({"type_work_range": [1.0]}, "type_work_range must be"),
        ({"type_work_range": [1.0, float("inf")]}, "type_work_range must be"),
    ],
)
def test_bad_varied_values(kwargs, message) -> None:
    with pytest.raises(ScaleError, match=message):
        load_generator(DIVERSE, **kwargs)


HALF = "conf/workload/diverse_varied_half.yaml"


def test_type_work_share_scales_that_share_of_the_workflows() -> None:
    # A factor of exactly 4 on a share of 0.3: a workflow's work / catalogue is U(0.5, 1.5) or 4 x that.
    gen = load_generator(DIVERSE, num_workflows=2000, uncertainty=0.0, type_work_range=[4.0, 4.0], type_work_share=0.3)
    work = np.array([p.work for p in gen.catalogue.primitives])
    scaled = []
    for f in gen.generate(load_cluster_spec().make(16, gen.catalogue), 3).workflows:
        ratio = f.expected_work / work[f.types]
        assert ratio.max() <= 1.5 + 1e-12 or ratio.min() >= 2.0 - 1e-12  # all tasks of a workflow, or none
        scaled.append(ratio.min() >= 2.0 - 1e-12)
    assert np.mean(scaled) == pytest.approx(0.3, abs=0.04)
    assert gen.type_work_mean() == pytest.approx(0.3 * 4.0 + 0.7)


def test_type_work_share_of_one_draws_the_workloads_of_no_share() -> None:
    cluster = load_cluster_spec().make(16, load_generator(DIVERSE).catalogue)
    a = load_generator(DIVERSE, num_workflows=30, type_work_range=[0.1, 10.0]).generate(cluster, 4)
    b = load_generator(DIVERSE, num_workflows=30, type_work_range=[0.1, 10.0], type_work_share=1.0).generate(cluster, 4)
    assert [f.arrival for f in a.workflows] == [f.arrival for f in b.workflows]
    assert all(np.array_equal(x.work, y.work) for x, y in zip(a.workflows, b.workflows, strict=True))


def test_half_varied_mix_is_its_base_with_two_keys_changed() -> None:
    half, varied = load_generator(HALF), load_generator(VARIED)
    assert (half.type_work_range, half.type_work_share) == ((0.3, 3.0), 0.5)
    assert half.type_work_mean() == pytest.approx(0.5 * 2.7 / math.log(10.0) + 0.5)
    assert half.catalogue.primitives == varied.catalogue.primitives
    assert (half.pattern_mix, half.stage_roles, half.roles, half.rho) == (
        varied.pattern_mix, varied.stage_roles, varied.roles, varied.rho)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type_work_range": [0.5, 2.0], "type_work_share": 0.0}, r"type_work_share must be in \(0, 1\], got 0.0"),
        ({"type_work_range": [0.5, 2.0], "type_work_share": 1.5}, "type_work_share must be in"),
        ({"type_work_share": 0.5}, "type_work_share needs type_work_range"),
    ],
)
def test_bad_type_work_share(kwargs, message) -> None:
    with pytest.raises(ScaleError, match=message):
        load_generator(DIVERSE, **kwargs)
