"""Seeded generators of workflow shapes: seven agentic patterns and three scientific structures.

Each pattern returns task *roles* and edges; :class:`~scale_pl.sim.generators.generator.WorkloadGenerator`
maps roles to primitives through the configurable role table, so a catalogue with other
primitive names reuses the same shapes. Roles: ``plan`` (a short LLM call that decides),
``generate`` (a long LLM generation), ``act`` (a tool step: API call, retrieval or code),
``retrieve``, ``compute`` (code execution) and ``perceive`` (vision).

The structures (``fan_out``, ``chain``, ``stages``) are the shapes of scientific workflows
(WfCommons' families): wide fan-outs of one type, long chains, and stages whose tasks share one
role. Their roles come from :data:`STAGE_ROLES` (or the weights a workload config gives as
``stage_roles``), every one of which maps to a single primitive in the shipped role tables, so a
stage is single-type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

Shape = tuple[list[str], list[tuple[int, int]]]


class _Builder:
    def __init__(self) -> None:
        self.roles: list[str] = []
        self.edges: list[tuple[int, int]] = []

    def add(self, role: str, parents: list[int] | tuple[int, ...] = ()) -> int:
        self.roles.append(role)
        node = len(self.roles) - 1
        self.edges.extend((p, node) for p in parents)
        return node

    def shape(self) -> Shape:
        return self.roles, self.edges


def react(rng: np.random.Generator) -> Shape:
    """Think, act, observe, repeated 1-6 times, then answer: a chain."""
    b = _Builder()
    last = b.add("plan")
    for _ in range(rng.integers(1, 7)):
        act = b.add("act", [last])
        last = b.add("plan", [act])
    b.add("generate", [last])
    return b.shape()


def plan_execute(rng: np.random.Generator) -> Shape:
    """LLMCompiler-style: a planner, 2-8 parallel tool calls, a joiner; sometimes a second round."""
    b = _Builder()
    last = b.add("plan")
    for _ in range(1 + int(rng.random() < 0.3)):
        acts = [b.add("act", [last]) for _ in range(rng.integers(2, 9))]
        last = b.add("plan", acts)
    b.add("generate", [last])
    return b.shape()


def map_reduce(rng: np.random.Generator) -> Shape:
    """Split, 2-12 parallel LLM or vision maps, reduce."""
    b = _Builder()
    split = b.add("compute")
    maps = [b.add("perceive" if rng.random() < 0.3 else "generate", [split]) for _ in range(rng.integers(2, 13))]
    b.add("generate", maps)
    return b.shape()


def debate(rng: np.random.Generator) -> Shape:
    """Optional retrieval, 1-3 rounds of 2-5 agents (each sees the whole previous round), a judge."""
    b = _Builder()
    prev = [b.add("retrieve")] if rng.random() < 0.5 else []
    agents = int(rng.integers(2, 6))
    for _ in range(rng.integers(1, 4)):
        prev = [b.add("generate", prev) for _ in range(agents)]
    b.add("plan", prev)
    return b.shape()


def rag(rng: np.random.Generator) -> Shape:
    """Query rewrite, 2-6 parallel retrievals, rerank, generate."""
    b = _Builder()
    query = b.add("plan")
    hits = [b.add("retrieve", [query]) for _ in range(rng.integers(2, 7))]
    rerank = b.add("compute", hits)
    b.add("generate", [rerank])
    return b.shape()


def tree_of_thought(rng: np.random.Generator) -> Shape:
    """A root thought expanded to depth 2-3 with branching 2-3, leaves evaluated, a final answer."""
    b = _Builder()
    frontier = [b.add("plan")]
    depth, branching = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    for _ in range(depth):
        frontier = [b.add("generate", [node]) for node in frontier for _ in range(branching)]
    vote = b.add("plan", frontier)
    b.add("generate", [vote])
    return b.shape()


def random_layered(rng: np.random.Generator) -> Shape:
    """2-6 layers of 1-6 tasks of random roles, then a final answer that joins every sink.

    Each task below the top has a parent in the layer above (and each earlier task with
    probability 0.2); each task above the bottom has a child.
    """
    roles = ["plan", "generate", "act", "retrieve", "compute", "perceive"]
    widths = rng.integers(1, 7, size=int(rng.integers(2, 7)))
    layers, first = [], 0
    for width in widths:
        layers.append(list(range(first, first + int(width))))
        first += int(width)
    edges: set[tuple[int, int]] = set()
    for depth in range(1, len(layers)):
        earlier = [n for layer in layers[:depth] for n in layer]
        for child in layers[depth]:
            edges.add((int(rng.choice(layers[depth - 1])), child))
            edges.update((p, child) for p in earlier if rng.random() < 0.2)
        for parent in layers[depth - 1]:
            if not any(p == parent for p, _ in edges):
                edges.add((parent, int(rng.choice(layers[depth]))))
    sinks = [n for n in range(first) if not any(p == n for p, _ in edges)]
    edges.update((n, first) for n in sinks)
    return [*(roles[rng.integers(len(roles))] for _ in range(first)), "generate"], sorted(edges)


# Roles a structural stage may take, and how often: code is the bulk of scientific pipelines
# (every WfInstances program maps to code_exec or tool_api); LLM and vision stages are the
# agentic batch jobs (a map over documents or pages). `act` is left out: it maps to three types.
STAGE_ROLES = ("compute", "generate", "perceive", "retrieve", "plan")
_STAGE_ROLE_P = (0.4, 0.25, 0.15, 0.1, 0.1)
MAX_STAGE_TASKS = 64


StageRoles = Mapping[str, float] | None


def _stage_role(rng: np.random.Generator, stage_roles: StageRoles = None) -> str:
    """A stage's role: :data:`STAGE_ROLES` at their default weights, or ``stage_roles`` (role -> weight)."""
    if stage_roles is None:
        return STAGE_ROLES[rng.choice(len(STAGE_ROLES), p=_STAGE_ROLE_P)]
    names = list(stage_roles)
    weights = np.array([stage_roles[r] for r in names], dtype=float)
    return names[rng.choice(len(names), p=weights / weights.sum())]


def _log_uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer in [low, high], log-uniform: narrow widths common, wide ones rarer but present."""
    return min(int(np.exp(rng.uniform(np.log(low), np.log(high + 1)))), high)


def fan_out(rng: np.random.Generator, stage_roles: StageRoles = None) -> Shape:
    """1-2 roots, 5-60 children of one role (log-uniform) that each depend on every root, then a
    join (70%) or none (the children are the sinks).

    Seismology-like (one split, a wide single-type fan-out, a merge) or bwa-like (two roots).
    """
    b = _Builder()
    roots = [b.add(_stage_role(rng, stage_roles)) for _ in range(1 + int(rng.random() < 0.25))]
    role = _stage_role(rng, stage_roles)
    children = [b.add(role, roots) for _ in range(_log_uniform_int(rng, 5, 60))]
    if rng.random() < 0.7:
        b.add(_stage_role(rng, stage_roles), children)
    return b.shape()


def chain(rng: np.random.Generator, stage_roles: StageRoles = None) -> Shape:
    """10-40 tasks in sequence: half keep one role throughout, the others draw each task's role."""
    length = int(rng.integers(10, 41))
    single = _stage_role(rng, stage_roles) if rng.random() < 0.5 else None
    b = _Builder()
    last: list[int] = []
    for _ in range(length):
        last = [b.add(single or _stage_role(rng, stage_roles), last)]
    return b.shape()


def stages(rng: np.random.Generator, stage_roles: StageRoles = None) -> Shape:
    """A pipeline of 3-8 stages, each of one role, at most :data:`MAX_STAGE_TASKS` tasks.

    A stage is one task (a split or a merge, 35%; 50% for the first) or W parallel tasks, W 2-16
    fixed per workflow (at least one stage is parallel). Two parallel stages connect one-to-one
    (per-sample chains, soykb-like, 50%), all-to-all (a shuffle, 25%, only for W <= 8: at most 64
    edges between two stages) or else task i to tasks i and i+1 of the stage above
    (montage's overlapping pairs); a one-task stage connects to every task of its neighbour.
    Stages stop early rather than pass the task cap. A pipeline whose stages are all parallel and
    linked one-to-one would be W separate chains: it ends in a one-task merge.
    """
    width = int(rng.integers(2, 17))
    count = int(rng.integers(3, 9))
    widths = [1 if rng.random() < (0.5 if i == 0 else 0.35) else width for i in range(count)]
    if max(widths) == 1:
        widths[count // 2] = width
    b = _Builder()
    above: list[int] = []
    joined = False  # some stage of one task, or some link other than one-to-one, joins the chains
    for w in widths:
        if len(b.roles) + w > MAX_STAGE_TASKS - (not joined):  # keep room for the merge
            break
        role, mode = _stage_role(rng, stage_roles), rng.random()
        if len(above) == w > 1 and mode < 0.5:
            parents = [[p] for p in above]
        elif len(above) == w > 1 and (mode >= 0.75 or w > 8):
            parents, joined = [[above[i], above[(i + 1) % w]] for i in range(w)], True
        else:
            parents, joined = [above] * w, joined or w == 1 or bool(above)
        above = [b.add(role, ps) for ps in parents]
    if not joined:
        b.add(_stage_role(rng, stage_roles), above)
    return b.shape()


# Every pattern takes the generator; the structures also take ``stage_roles`` (keyword).
PATTERNS: dict[str, Callable[..., Shape]] = {
    "react": react,
    "plan_execute": plan_execute,
    "map_reduce": map_reduce,
    "debate": debate,
    "rag": rag,
    "tree_of_thought": tree_of_thought,
    "random_layered": random_layered,
    "fan_out": fan_out,
    "chain": chain,
    "stages": stages,
}
STRUCTURES = ("fan_out", "chain", "stages")  # the scientific shapes; the other seven are agentic
