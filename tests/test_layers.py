"""Imports run one way: the layers of docs/decisions.md ("Package layout"), read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "scale_pl"

# package (dotted, under scale_pl) -> packages it must never import
FORBIDDEN = {
    "sim": ("models", "algos", "losses", "data", "evaluation", "serve", "commands", "cli", "baselines", "io"),
    "sim.system": ("sim.batched", "sim.reference", "sim.single", "sim.generators"),
    "sim.generators": ("sim.batched", "sim.reference", "sim.single"),
    "sim.batched": ("sim.reference", "sim.single"),
    "sim.reference": ("sim.batched", "sim.single"),  # the oracle stays independent of the engine it checks
    "sim.single": ("sim.batched",),
    "models": ("algos", "data", "evaluation", "serve", "commands", "cli"),
    "data": ("evaluation", "algos", "serve", "commands", "cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ``scale_pl...`` module the file imports, at any depth (type-checking imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("scale_pl")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scale_pl"):
            out.add(node.module)
    return out


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def within(module: str, package: str) -> bool:
    full = f"scale_pl.{package}"
    return module == full or module.startswith(full + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_lower_layer_never_imports_a_higher_one(package: str) -> None:
    bad = [
        f"{mod} imports {dep}"
        for mod, deps in GRAPH.items()
        if within(mod, package)
        for dep in deps
        for above in FORBIDDEN[package]
        if within(dep, above)
    ]
    assert not bad, "\n".join(bad)


def test_no_two_modules_import_each_other() -> None:
    pairs = sorted({tuple(sorted((a, b))) for a, deps in GRAPH.items() for b in deps if a in GRAPH.get(b, ())})
    assert not pairs, pairs


def test_the_simulator_has_no_import_cycle() -> None:
    sim = {m: {d for d in deps if within(d, "sim")} for m, deps in GRAPH.items() if within(m, "sim")}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sim.get(m, ()):
            if state.get(d) == 1:
                raise AssertionError(" -> ".join([*path, m, d]))
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in sim:
        if m not in state:
            visit(m, [])


def test_the_checker_sees_a_planted_cycle(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from scale_pl.sim.batched.env import X\n")
    assert imports_of(a) == {"scale_pl.sim.batched.env"}
