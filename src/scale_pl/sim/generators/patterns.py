"""Seeded generators of agentic workflow shapes.

Each pattern returns task *roles* and edges; :class:`~scale_pl.sim.generators.generator.WorkloadGenerator`
maps roles to primitives through the configurable role table, so a catalogue with other
primitive names reuses the same shapes. Roles: ``plan`` (a short LLM call that decides),
``generate`` (a long LLM generation), ``act`` (a tool step: API call, retrieval or code),
``retrieve``, ``compute`` (code execution) and ``perceive`` (vision).
"""

from __future__ import annotations

from collections.abc import Callable

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


PATTERNS: dict[str, Callable[[np.random.Generator], Shape]] = {
    "react": react,
    "plan_execute": plan_execute,
    "map_reduce": map_reduce,
    "debate": debate,
    "rag": rag,
    "tree_of_thought": tree_of_thought,
    "random_layered": random_layered,
}
