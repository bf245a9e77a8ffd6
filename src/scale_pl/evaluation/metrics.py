"""Scheduling metrics as torchmetrics `Metric`s, so they aggregate correctly across DDP ranks."""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class ResponseTimeStats(Metric):
    """ART, p95, p99 of workflow response times and the mean slowdown, over everything updated.

    Percentiles need every value, so the states are concatenated across ranks (``dist_reduce_fx="cat"``).
    Percentiles interpolate linearly, as numpy's default.
    """

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("response", default=[], dist_reduce_fx="cat")
        self.add_state("slowdown", default=[], dist_reduce_fx="cat")

    def update(self, response: torch.Tensor, slowdown: torch.Tensor) -> None:
        """Add workflows' response times and slowdowns (any shape; NaN entries are padding and dropped)."""
        keep = ~torch.isnan(response)
        self.response.append(response[keep].double())
        self.slowdown.append(slowdown[keep].double())

    def compute(self) -> dict[str, torch.Tensor]:
        response, slowdown = dim_zero_cat(self.response), dim_zero_cat(self.slowdown)
        return {
            "art": response.mean(),
            "p95": torch.quantile(response, 0.95),
            "p99": torch.quantile(response, 0.99),
            "slowdown": slowdown.mean(),
        }
