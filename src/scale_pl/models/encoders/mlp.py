"""The graph-free ablation: every node embedded on its own features alone."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from scale_pl.models.encoders.base import DAGEncoder


class NodeLinear(nn.Linear):
    """A ``Linear`` layer called like a convolution, ``layer(x, edge_index)``; edges are ignored."""

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


class MLPEncoder(DAGEncoder):
    """Per-node MLP that ignores the edges: the "no graph" ablation.

    Same signature, layering, normalisation and dropout as the graph encoders, so that the only
    difference in an ablation is the message passing. A node still carries its own DAG-derived
    features (state, bottom level), but learns nothing from its neighbours.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
    """

    uses_edges: ClassVar[bool] = False

    def make_layer(self, in_dim: int, out_dim: int) -> nn.Module:
        return NodeLinear(in_dim, out_dim)
