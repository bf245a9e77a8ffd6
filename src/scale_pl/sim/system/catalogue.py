"""The primitive catalogue: the task types a workflow is made of."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scale_pl.errors import ScaleError


@dataclass(frozen=True)
class Primitive:
    """One task type.

    Args:
        name: type name, e.g. ``llm_generate``.
        work: expected work in seconds on a reference server (speed 1).
        cv: coefficient of variation of the log-normal actual work around the expected work.
        latency: fixed latency floor in seconds that no server speeds up (e.g. an API round trip).
        output_mb: size of the output its children must receive, in MB.
    """

    name: str
    work: float
    cv: float = 0.5
    latency: float = 0.0
    output_mb: float = 0.0

    def __post_init__(self) -> None:
        for field in ("work", "cv", "latency", "output_mb"):
            value = getattr(self, field)
            if not math.isfinite(value) or value < 0:
                raise ScaleError(f"primitive {self.name!r}: {field} must be finite and >= 0, got {value}")
        if self.work <= 0:
            raise ScaleError(f"primitive {self.name!r}: work must be > 0, got {self.work}")


class Catalogue:
    """An ordered set of primitives; a type's index is its position here."""

    def __init__(self, primitives: list[Primitive]) -> None:
        if not primitives:
            raise ScaleError("catalogue: no primitives given")
        names = [p.name for p in primitives]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ScaleError(f"catalogue: duplicate primitive {duplicates[0]!r}")
        self.primitives = list(primitives)
        self.names = names
        self._index = {n: i for i, n in enumerate(names)}

    @classmethod
    def from_dict(cls, spec: dict[str, dict]) -> Catalogue:
        """Build from ``{name: {work, cv, latency, output_mb}}`` (the ``conf/workload`` layout)."""
        prims = []
        for name, fields in spec.items():
            try:
                prims.append(Primitive(name=name, **fields))
            except TypeError as exc:
                raise ScaleError(f"primitive {name!r}: {exc}") from None
        return cls(prims)

    def index(self, name: str) -> int:
        """Type index of ``name``; a clear error for an unknown primitive."""
        try:
            return self._index[name]
        except KeyError:
            raise ScaleError(f"unknown primitive {name!r} (known: {', '.join(self.names)})") from None

    def __len__(self) -> int:
        return len(self.primitives)

    def __getitem__(self, i: int) -> Primitive:
        return self.primitives[i]

    def __repr__(self) -> str:
        return f"Catalogue({', '.join(self.names)})"
