"""The scientific structures (fan_out, chain, stages) and the diverse training mix that uses them."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from scale_pl.sim.generators.config import load_cluster_spec, load_generator, read_yaml
from scale_pl.sim.generators.patterns import MAX_STAGE_TASKS, PATTERNS, STAGE_ROLES, STRUCTURES, chain, fan_out, stages
from tests.sim.builders import busy_fractions

DIVERSE = "conf/workload/diverse.yaml"


def _shapes(pattern, seed: int, count: int) -> list:
    rng = np.random.default_rng(seed)
    return [pattern(rng) for _ in range(count)]


def _parents(n: int, edges: list[tuple[int, int]]) -> list[set[int]]:
    parents: list[set[int]] = [set() for _ in range(n)]
    for p, c in edges:
        parents[c].add(p)
    return parents


def _depths(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Longest path from a root, in tasks; the builders number tasks in topological order."""
    depth = [0] * n
    for c, ps in enumerate(_parents(n, edges)):
        depth[c] = 1 + max((depth[p] for p in ps), default=-1)
    return depth


@pytest.mark.parametrize("name", STRUCTURES)
def test_a_seed_gives_one_shape_and_seeds_differ(name) -> None:
    pattern = PATTERNS[name]
    assert _shapes(pattern, 5, 30) == _shapes(pattern, 5, 30)
    assert _shapes(pattern, 5, 30) != _shapes(pattern, 6, 30)


def test_structure_roles_are_stage_roles() -> None:
    for name in STRUCTURES:
        roles = Counter(r for shape in _shapes(PATTERNS[name], 0, 400) for r in shape[0])
        assert set(roles) == set(STAGE_ROLES), name  # every stage role is drawn, and nothing else
        assert "act" not in roles  # act maps to three primitives: a stage of it would not be one type


def test_fan_out_is_roots_then_one_role_children_then_an_optional_join() -> None:
    widths, joins, two_roots = [], 0, 0
    for roles, edges in _shapes(fan_out, 1, 600):
        parents = _parents(len(roles), edges)
        roots = [i for i, ps in enumerate(parents) if not ps]
        children = [i for i, ps in enumerate(parents) if ps == set(roots)]
        rest = [i for i in range(len(roles)) if i not in roots and i not in children]
        assert roots == list(range(len(roots))) and 1 <= len(roots) <= 2
        assert 5 <= len(children) <= 60
        assert len({roles[i] for i in children}) == 1  # one role across the fan-out
        assert len(rest) <= 1
        if rest:
            assert parents[rest[0]] == set(children)  # the join waits for every child
        widths.append(len(children))
        joins += bool(rest)
        two_roots += len(roots) == 2
    assert min(widths) == 5 and max(widths) >= 55
    assert np.median(widths) < 25  # log-uniform: narrow fan-outs are the common case
    assert 0.6 < joins / 600 < 0.8 and 0.18 < two_roots / 600 < 0.32


def test_chain_is_one_path_of_10_to_40_tasks() -> None:
    single = 0
    lengths = []
    for roles, edges in _shapes(chain, 2, 400):
        assert edges == [(i, i + 1) for i in range(len(roles) - 1)]
        lengths.append(len(roles))
        single += len(set(roles)) == 1
    assert min(lengths) == 10 and max(lengths) == 40
    assert 0.4 < single / 400 < 0.6


def test_stages_are_single_role_layers_of_one_or_w_tasks_with_the_stated_links() -> None:
    modes: Counter[str] = Counter()
    for roles, edges in _shapes(stages, 3, 600):
        n = len(roles)
        assert n <= MAX_STAGE_TASKS
        depth, parents = _depths(n, edges), _parents(n, edges)
        layers = [[i for i in range(n) if depth[i] == d] for d in range(max(depth) + 1)]
        assert len(layers) >= 3
        assert all(layer == list(range(layer[0], layer[-1] + 1)) for layer in layers)  # stage by stage
        widths = {len(layer) for layer in layers}
        assert len(widths - {1}) == 1  # one parallel width W per workflow
        for above, below in pairwise(layers):
            assert len({roles[i] for i in below}) == 1  # a stage is one role
            assert all(parents[c] <= set(above) for c in below)  # links only to the stage above
            modes[_link_mode(above, below, parents)] += 1
        assert len({roles[i] for i in layers[0]}) == 1
    assert set(modes) == {"fan", "one_to_one", "pairs", "all_to_all"}
    assert modes["one_to_one"] > modes["pairs"] and modes["one_to_one"] > modes["all_to_all"]


def _link_mode(above: list[int], below: list[int], parents: list[set[int]]) -> str:
    if len(above) == 1 or len(below) == 1:
        assert all(parents[c] == set(above) for c in below)
        return "fan"
    w = len(above)
    assert len(below) == w
    got = [parents[c] for c in below]
    if got == [{p} for p in above]:
        return "one_to_one"
    if got == [{above[i], above[(i + 1) % w]} for i in range(w)]:
        return "pairs"
    assert got == [set(above)] * w and w <= 8, got  # all-to-all only for narrow stages
    return "all_to_all"


def test_diverse_mix_is_default_plus_the_structures() -> None:
    diverse, default = read_yaml(DIVERSE), read_yaml("conf/workload/default.yaml")
    assert set(diverse["pattern_mix"]) == set(PATTERNS)
    assert all(weight > 0 for weight in diverse["pattern_mix"].values())
    for key in set(default) - {"pattern_mix"}:  # catalogue, roles and arrivals: same features, same rho
        assert diverse[key] == default[key], key


def test_diverse_structures_are_single_type_in_a_generated_workload() -> None:
    # Through the role table of diverse.yaml: a fan-out's children, and each stage, share one primitive.
    gen = load_generator(DIVERSE, num_workflows=300)
    wl = gen.generate(load_cluster_spec().make(16, gen.catalogue), 4)
    assert {f.pattern for f in wl.workflows} == set(PATTERNS)
    for f in wl.workflows:
        edges = [(int(p), int(c)) for p, c in f.edges]
        parents = _parents(f.num_tasks, edges)
        if f.pattern == "fan_out":
            roots = {i for i, ps in enumerate(parents) if not ps}
            children = [i for i, ps in enumerate(parents) if ps == roots]
            assert len(children) >= 5 and len(set(f.types[children].tolist())) == 1, f.id
        elif f.pattern == "stages":
            depth = np.array(_depths(f.num_tasks, edges))
            assert all(len(set(f.types[depth == d].tolist())) == 1 for d in set(depth.tolist())), f.id


def test_diverse_offered_load_is_rho_on_the_gpus() -> None:
    # rho is the bottleneck class's busy fraction (docs/model.md). Recompute it from a long generated
    # workload: each class's share of every task's expected work (capacity-proportional, latency
    # floors included) over the arrival span, at the rate the generator chose.
    gen = load_generator(DIVERSE, num_workflows=6000)
    cluster = load_cluster_spec().make(16, gen.catalogue)
    busy = busy_fractions(gen.generate(cluster, 11), cluster)
    gpu = [i for i, cls in enumerate(cluster.classes) if cls.name.startswith("gpu")]
    assert max(busy, key=busy.get) in gpu  # the GPUs stay the bottleneck with the structures
    assert max(busy.values()) == pytest.approx(gen.rho, rel=0.05)  # seeds 11-13 give 0.715, 0.707, 0.708
