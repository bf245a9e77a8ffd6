"""Choosing the checkpoint with larger clusters in view.

A policy trained at small N is kept for use at any N, so the checkpoint (and, among training
seeds, the recommended run) is chosen on how it does at the training size *and* at larger
validation sizes: the worst ratio of its ART to EFT's on the same validation workloads, over
the validation sizes. One validation is noisy (a few percent between two validations of
nearly the same weights), so the figure that is minimised is the mean of that worst ratio over
the last ``window`` validations.
"""

from __future__ import annotations

import math


class SizeAwareSelection:
    """The selection figure of each validation: ``mean(worst ratio to EFT over N)`` over a window.

    Args:
        window: validations averaged (1 = the latest only).

    Example: with ``window=2``, ratios ``{16: 0.9, 64: 1.1}`` then ``{16: 0.95, 64: 1.0}`` give
    worst ratios 1.1 then 1.0 and selection figures 1.1 then 1.05.
    """

    def __init__(self, window: int = 3) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.history: list[float] = []

    def update(self, ratios: dict[int, float]) -> dict[str, float]:
        """Add one validation's ratio to EFT per N; returns ``worst_ratio`` and the smoothed ``select``.

        A non-finite ratio (a policy that never finished) counts as infinitely bad.
        """
        if not ratios:
            raise ValueError("no validation size to select on")
        worst = max(r if math.isfinite(r) else math.inf for r in ratios.values())
        self.history.append(worst)
        recent = self.history[-self.window :]
        return {"worst_ratio": worst, "select": sum(recent) / len(recent)}

    def state_dict(self) -> dict:
        return {"window": self.window, "history": list(self.history)}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state.get("history", []))
