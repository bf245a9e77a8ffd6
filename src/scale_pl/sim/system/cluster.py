"""The cluster model: server classes, clusters of any size from a class mix, data transfers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scale_pl.errors import ScaleError
from scale_pl.sim.system.catalogue import Catalogue


@dataclass(frozen=True)
class ServerClass:
    """A kind of server.

    Args:
        name: class name, e.g. ``gpu_large``.
        speeds: speed per primitive type relative to the reference server; a type that is
            absent or has speed 0 cannot run on this class (it is masked).
        slots: tasks the server runs at once.
    """

    name: str
    speeds: dict[str, float]
    slots: int = 1

    def __post_init__(self) -> None:
        if int(self.slots) != self.slots or self.slots < 1:
            raise ScaleError(f"server class {self.name!r}: slots must be an integer >= 1, got {self.slots}")
        for prim, speed in self.speeds.items():
            if not math.isfinite(speed) or speed < 0:
                raise ScaleError(f"server class {self.name!r}: speed for {prim!r} must be >= 0, got {speed}")


@dataclass(frozen=True)
class Network:
    """Data-transfer model: a child placed away from a parent waits latency + output_mb / bandwidth."""

    latency: float = 0.005
    bandwidth_mbps: float = 100.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.latency) or self.latency < 0:
            raise ScaleError(f"network: latency must be >= 0, got {self.latency}")
        if not self.bandwidth_mbps > 0:
            raise ScaleError(f"network: bandwidth_mbps must be > 0, got {self.bandwidth_mbps}")


@dataclass
class Cluster:
    """N concrete servers.

    Attributes:
        classes: the server classes; ``server_class[i]`` indexes into it.
        server_class: ``[N]`` class index of each server.
        speed: ``[N, K]`` speed of each server per type index of ``catalogue``.
        slots: ``[N]`` slots per server.
        network: the transfer model.
    """

    catalogue: Catalogue
    classes: list[ServerClass]
    server_class: np.ndarray
    network: Network = field(default_factory=Network)

    def __post_init__(self) -> None:
        self.server_class = np.asarray(self.server_class, dtype=np.int64)
        if self.server_class.size < 1:
            raise ScaleError("cluster: N must be >= 1")
        self.speed = np.array(
            [[self.classes[c].speeds.get(name, 0.0) for name in self.catalogue.names] for c in self.server_class],
            dtype=np.float64,
        )
        self.slots = np.array([self.classes[c].slots for c in self.server_class], dtype=np.int64)

    @property
    def num_servers(self) -> int:
        return int(self.server_class.size)

    @property
    def server_names(self) -> list[str]:
        counters: dict[int, int] = {}
        names = []
        for c in self.server_class:
            counters[c] = counters.get(c, 0) + 1
            names.append(f"{self.classes[c].name}-{counters[c] - 1}")
        return names

    def check_runnable(self, type_indices: set[int] | None = None) -> None:
        """Raise if some type (by default every catalogue type) has no server that can run it."""
        types = range(len(self.catalogue)) if type_indices is None else sorted(type_indices)
        for k in types:
            if not (self.speed[:, k] > 0).any():
                raise ScaleError(
                    f"primitive {self.catalogue.names[k]!r}: no server in the cluster can run it "
                    f"(classes: {', '.join(sorted({self.classes[c].name for c in self.server_class}))})"
                )


@dataclass
class ClusterSpec:
    """Server classes, a class mix and a network: makes clusters of any N with the same proportions.

    Args:
        classes: the server classes.
        mix: fraction of servers per class name (normalised; need not sum to 1).
        network: the transfer model.
    """

    classes: list[ServerClass]
    mix: dict[str, float]
    network: Network = field(default_factory=Network)

    def __post_init__(self) -> None:
        names = [c.name for c in self.classes]
        for name, frac in self.mix.items():
            if name not in names:
                raise ScaleError(f"cluster mix: unknown server class {name!r} (known: {', '.join(names)})")
            if not math.isfinite(frac) or frac < 0:
                raise ScaleError(f"cluster mix: fraction for {name!r} must be >= 0, got {frac}")
        if sum(self.mix.values()) <= 0:
            raise ScaleError("cluster mix: fractions sum to 0")

    @classmethod
    def from_dict(cls, spec: dict) -> ClusterSpec:
        """Build from the ``conf/cluster`` layout: ``{classes: {name: {speeds, slots}}, mix, network}``."""
        try:
            classes = [ServerClass(name=n, **c) for n, c in spec["classes"].items()]
            network = Network(**spec.get("network", {}))
            return cls(classes=classes, mix=dict(spec["mix"]), network=network)
        except (KeyError, TypeError) as exc:
            raise ScaleError(f"cluster spec: {exc}") from None

    def counts(self, num_servers: int) -> dict[str, int]:
        """Servers per class for N servers: largest-remainder rounding of N x mix, so every N keeps the mix."""
        if int(num_servers) != num_servers or num_servers < 1:
            raise ScaleError(f"number of servers N must be an integer >= 1, got {num_servers}")
        total = sum(self.mix.values())
        names = [c.name for c in self.classes if self.mix.get(c.name, 0) > 0]
        exact = [num_servers * self.mix[n] / total for n in names]
        counts = [math.floor(x) for x in exact]
        order = sorted(range(len(names)), key=lambda i: (-(exact[i] - counts[i]), -exact[i], i))
        for i in order[: num_servers - sum(counts)]:
            counts[i] += 1
        return dict(zip(names, counts, strict=True))

    def make(self, num_servers: int, catalogue: Catalogue) -> Cluster:
        """The cluster of ``num_servers`` servers, grouped by class in the order of ``classes``."""
        counts = self.counts(num_servers)
        server_class = [ci for ci, c in enumerate(self.classes) for _ in range(counts.get(c.name, 0))]
        for c in self.classes:
            for prim in c.speeds:
                catalogue.index(prim)  # an unknown primitive in a class is a config error
        return Cluster(catalogue, self.classes, np.array(server_class), self.network)
