"""Small statistics shared by the evaluation and the run comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of the 95% Student-t interval (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, T975.get(len(values) - 1, 1.96) * sd / math.sqrt(len(values))
