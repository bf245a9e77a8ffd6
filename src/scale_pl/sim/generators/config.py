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
        return generator_from_dict(read_yaml(path), **overrides)
    except ScaleError as exc:
        raise ScaleError(f"{path}: {exc}") from None


def load_cluster_spec(path: str | Path | None = None) -> ClusterSpec:
    """The cluster spec of a YAML or JSON file (default ``conf/cluster/default.yaml``)."""
    path = path or CONF_DIR / "cluster" / "default.yaml"
    try:
        return ClusterSpec.from_dict(read_yaml(path))
    except ScaleError as exc:
        raise ScaleError(f"{path}: {exc}") from None
