"""Loading the workload and cluster configs under ``conf/`` into simulator objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scale_pl.errors import ScaleError
from scale_pl.sim.generators.generator import WorkloadGenerator
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import ClusterSpec

CONF_DIR = Path(__file__).resolve().parents[4] / "conf"


def resolve(path: str | Path) -> Path:
    """``path`` as given or, if relative and missing here, relative to the repository (``conf/...`` from anywhere)."""
    path = Path(path)
    if not path.exists() and not path.is_absolute() and (CONF_DIR.parent / path).exists():
        return CONF_DIR.parent / path
    return path


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a one-line error for a missing or malformed file."""
    path = resolve(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ScaleError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScaleError(f"{path}: malformed YAML{where}") from None
    if not isinstance(data, dict):
        raise ScaleError(f"{path}: expected a mapping at the top level")
    return data


def read_workload_config(path: str | Path) -> dict[str, Any]:
    """A workload config as one mapping: a ``base: FILE`` key (relative to this file) is read first,
    then this file's keys replace the base's, key by key (one level: a ``catalogue`` given here
    replaces the whole base catalogue). Bases may chain; a cycle is an error."""
    seen: list[Path] = []
    layers: list[dict[str, Any]] = []
    current: Path | None = resolve(path)
    while current is not None:
        if current in seen:
            raise ScaleError(f"{seen[0]}: workload config bases form a cycle at {current}")
        seen.append(current)
        data = read_yaml(current)
        base = data.pop("base", None)
        if base is not None and not isinstance(base, str):
            raise ScaleError(f"{current}: 'base' must be a file name, got {base!r}")
        layers.append(data)
        current = (current.parent / base).resolve() if base is not None else None
    spec: dict[str, Any] = {}
    for layer in reversed(layers):
        spec.update(layer)
    return spec


def generator_from_dict(spec: dict[str, Any], **overrides: Any) -> WorkloadGenerator:
    """A :class:`WorkloadGenerator` from the ``conf/workload`` layout, with keyword overrides."""
    spec = {**spec, **overrides}
    catalogue = Catalogue.from_dict(spec.pop("catalogue"))
    try:
        return WorkloadGenerator(catalogue=catalogue, **spec)
    except TypeError as exc:
        raise ScaleError(f"workload config: {exc}") from None


def load_generator(path: str | Path | None = None, **overrides: Any) -> WorkloadGenerator:
    """The workload generator of a YAML file (default ``conf/workload/default.yaml``)."""
    path = path or CONF_DIR / "workload" / "default.yaml"
    try:
        return generator_from_dict(read_workload_config(path), **overrides)
    except ScaleError as exc:
        raise ScaleError(f"{path}: {exc}") from None


def load_cluster_spec(path: str | Path | None = None) -> ClusterSpec:
    """The cluster spec of a YAML or JSON file (default ``conf/cluster/default.yaml``)."""
    path = path or CONF_DIR / "cluster" / "default.yaml"
    try:
        return ClusterSpec.from_dict(read_yaml(path))
    except ScaleError as exc:
        raise ScaleError(f"{path}: {exc}") from None
