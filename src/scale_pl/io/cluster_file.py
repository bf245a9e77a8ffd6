"""Cluster files: N concrete servers as a count per server class (YAML or JSON), read and written.

The layout (see ``docs/formats.md`` and ``cluster.schema.json``)::

    classes:
      gpu_large: {speeds: {llm_plan: 2.0, ...}, slots: 4, count: 2}
      cpu_small: {speeds: {code_exec: 0.6, ...}, slots: 2, count: 6}
    network: {latency: 0.005, bandwidth_mbps: 125.0}

Servers are numbered in class order: the first ``count`` are of the first class, and so on, and
are named ``<class>-<i>`` as in :attr:`~scale_pl.sim.system.cluster.Cluster.server_names`. A file in the
``conf/cluster`` layout (a fractional ``mix`` instead of counts) is read too when a server count
is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scale_pl.errors import ScaleError
from scale_pl.io.atomic import write_text_atomic
from scale_pl.io.schema import validate
from scale_pl.sim.generators.config import read_yaml
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster, ClusterSpec, Network, ServerClass


def cluster_from_dict(data: dict[str, Any], catalogue: Catalogue, source: str = "cluster") -> Cluster:
    """The :class:`Cluster` of a count-per-class mapping; errors name ``source`` and the item."""
    validate(data, "cluster", source)
    try:
        classes, server_class = [], []
        for ci, (name, spec) in enumerate(data["classes"].items()):
            for prim in spec["speeds"]:
                if prim not in catalogue.names:
                    raise ScaleError(
                        f"class {name!r}: speed for unknown primitive {prim!r} (known: {', '.join(catalogue.names)})"
                    )
            speeds = {k: float(v) for k, v in spec["speeds"].items()}
            classes.append(ServerClass(name=name, speeds=speeds, slots=int(spec.get("slots", 1))))
            server_class += [ci] * int(spec["count"])
        if not server_class:
            raise ScaleError("every class has count 0: the cluster has no servers")
        network = Network(**{k: float(v) for k, v in data.get("network", {}).items()})
        return Cluster(catalogue, classes, np.array(server_class, dtype=np.int64), network)
    except ScaleError as exc:
        raise ScaleError(f"{source}: {exc}") from None


def cluster_to_dict(cluster: Cluster) -> dict[str, Any]:
    """The file layout of ``cluster``; its servers must be grouped by class (as ClusterSpec.make makes them)."""
    order = _class_order(cluster)
    counts = np.bincount(cluster.server_class, minlength=len(cluster.classes))
    classes = {}
    for c in order:
        cls = cluster.classes[c]
        classes[cls.name] = {"speeds": dict(cls.speeds), "slots": int(cls.slots), "count": int(counts[c])}
    net = cluster.network
    return {
        "format": "scale_pl.cluster",
        "version": 1,
        "classes": classes,
        "network": {"latency": net.latency, "bandwidth_mbps": net.bandwidth_mbps},
    }


def _class_order(cluster: Cluster) -> list[int]:
    """Class indices in the order their servers appear (classes without servers keep their place)."""
    sc = cluster.server_class
    if (np.diff(sc) >= 0).all():
        return list(range(len(cluster.classes)))
    order: list[int] = []
    for c in sc.tolist():
        if order and order[-1] == c:
            continue
        if c in order:
            raise ScaleError(
                f"cluster: servers of class {cluster.classes[c].name!r} are not contiguous; "
                "a cluster file lists servers grouped by class"
            )
        order.append(c)
    return order + [c for c in range(len(cluster.classes)) if c not in order]


def dump_cluster(cluster: Cluster, path: str | Path) -> str:
    """The text of the cluster file; JSON for a ``.json`` path, YAML otherwise."""
    data = cluster_to_dict(cluster)
    if Path(path).suffix.lower() == ".json":
        return json.dumps(data, indent=1) + "\n"
    # Flow style for the speed maps keeps one class on a few lines; floats round-trip exactly.
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)


def write_cluster(cluster: Cluster, path: str | Path) -> None:
    """Write ``cluster`` to ``path`` atomically (YAML, or JSON for a ``.json`` path)."""
    write_text_atomic(path, dump_cluster(cluster, path))


def read_cluster_data(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON cluster file (JSON is YAML); one-line errors for bad files."""
    path = Path(path)
    if path.is_dir():
        raise ScaleError(f"{path}: is a directory, not a cluster file")
    return read_yaml(path)


def load_cluster(path: str | Path, catalogue: Catalogue, num_servers: int | None = None) -> Cluster:
    """The cluster of a cluster file, or of a ``conf/cluster`` class-mix config realised at ``num_servers``."""
    data = read_cluster_data(path)
    if "mix" in data:
        if num_servers is None:
            raise ScaleError(
                f"{path}: a class-mix cluster config (no server counts): give the number of servers "
                "(--servers N) or a cluster file with a count per class"
            )
        try:
            return ClusterSpec.from_dict(data).make(num_servers, catalogue)
        except ScaleError as exc:
            raise ScaleError(f"{path}: {exc}") from None
    if num_servers is not None:
        raise ScaleError(f"{path}: --servers applies only to a class-mix config; this file gives a count per class")
    return cluster_from_dict(data, catalogue, str(path))
