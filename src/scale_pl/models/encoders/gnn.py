"""Graph encoders on PyG: GATv2, GIN, GCN, GraphSAGE and a graph transformer.

Each one only says what one layer is; the layering, normalisation, activation, dropout and
the padded-batch handling live in :class:`~scale_pl.models.encoders.base.DAGEncoder`. GATv2,
GCN, SAGE and the transformer sum one PyG convolution per edge direction: the downward one
(``root=True``) keeps the node's own term (self loop / root weight / bias), the upward one
(``root=False``) aggregates the children only (GCN and the transformer keep their self term
in both directions: see there). GIN feeds both directions' sums to one MLP. Only PyG's
pure-torch code paths are used (no torch_scatter, torch_sparse or pyg-lib).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv, GCNConv, SAGEConv, TransformerConv
from torch_geometric.utils import scatter

from scale_pl.models.encoders.base import DAGEncoder
from scale_pl.models.layers import mlp, reset_module


def _check_heads(heads: int, dims: tuple[int, ...], name: str) -> None:
    if heads < 1 or any(d % heads for d in dims):
        raise ValueError(f"{name}: heads={heads} must divide hidden_dim and out_dim {dims}")


class GATv2Encoder(DAGEncoder):
    """GATv2 attention (Brody et al., 2022) in both edge directions.

    Heads are concatenated, each of width ``dim // heads``; the downward attention includes a
    self loop, the upward one attends over the children only.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
        heads: attention heads per layer; must divide ``hidden_dim`` and ``out_dim``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int,
        act: str = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
        heads: int = 4,
    ) -> None:
        _check_heads(heads, (hidden_dim, out_dim), type(self).__name__)
        self.heads = heads  # read by make_conv while the base constructor builds the layers
        super().__init__(in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout)

    def make_conv(self, in_dim: int, out_dim: int, root: bool) -> nn.Module:
        heads = self.heads
        return GATv2Conv(in_dim, out_dim // heads, heads=heads, concat=True, add_self_loops=root, bias=root)

    def extra_repr_args(self) -> str:
        return f"heads={self.heads}"


class GraphTransformerEncoder(DAGEncoder):
    """Graph transformer (``TransformerConv``, Shi et al., 2021) in both edge directions.

    Multi-head dot-product attention over each node's neighbours plus a skip (root) weight, in
    each direction; heads concatenated, each of width ``dim // heads``.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
        heads: attention heads per layer; must divide ``hidden_dim`` and ``out_dim``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int,
        act: str = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
        heads: int = 4,
    ) -> None:
        _check_heads(heads, (hidden_dim, out_dim), type(self).__name__)
        self.heads = heads  # read by make_conv while the base constructor builds the layers
        super().__init__(in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout)

    def make_conv(self, in_dim: int, out_dim: int, root: bool) -> nn.Module:
        # The skip weight stays in both directions: PyG allocates it even when unused, and a
        # parameter without a gradient would trouble optimisers and DDP.
        return TransformerConv(in_dim, out_dim // self.heads, heads=self.heads, concat=True, root_weight=True)

    def extra_repr_args(self) -> str:
        return f"heads={self.heads}"


class DirectionalGINConv(nn.Module):
    """GIN over a DAG in both directions with one MLP.

    ``MLP([(1 + eps) x_v + sum over parents x_u  ||  sum over children x_w])``: GIN's sum
    aggregation (injective on multisets) per direction, the two sums concatenated so that the
    directions stay apart. One MLP instead of one per direction: a third less work than two
    summed ``GINConv`` s, for the same expressiveness.

    Args:
        in_dim: input channels.
        out_dim: output channels (also the MLP's hidden width, as in GIN).
        act: activation inside the MLP.

    Shapes:
        - input: ``x`` ``[V, in_dim]``, ``edge_index`` ``[2, E]`` (row 0 parents, row 1 children)
        - output: ``[V, out_dim]``
    """

    def __init__(self, in_dim: int, out_dim: int, act: str = "relu") -> None:
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(1))
        self.nn = mlp(2 * in_dim, out_dim, out_dim, act)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.eps)
        reset_module(self.nn)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        parent, child = edge_index
        n = x.size(0)
        from_parents = scatter(x.index_select(0, parent), child, dim=0, dim_size=n, reduce="sum")
        from_children = scatter(x.index_select(0, child), parent, dim=0, dim_size=n, reduce="sum")
        return self.nn(torch.cat([(1 + self.eps) * x + from_parents, from_children], dim=-1))


class GINEncoder(DAGEncoder):
    """GIN (Xu et al., 2019) over both edge directions: see :class:`DirectionalGINConv`.

    The inner MLP is ``Linear -> act -> Linear``; ``eps`` is learned.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
    """

    def make_layer(self, in_dim: int, out_dim: int) -> nn.Module:
        return DirectionalGINConv(in_dim, out_dim, self.act_name)


class GCNEncoder(DAGEncoder):
    """GCN (Kipf & Welling, 2017) in both edge directions, symmetric normalisation, self loops.

    The self loops stay in both directions (the normalisation needs them); bias downward only.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
    """

    def make_conv(self, in_dim: int, out_dim: int, root: bool) -> nn.Module:
        # Self loops in both directions: without them the symmetric normalisation gives a zero
        # weight to every message from a node of in-degree 0 (e.g. a leaf, going up).
        return GCNConv(in_dim, out_dim, add_self_loops=True, bias=root)


class SAGEEncoder(DAGEncoder):
    """GraphSAGE (Hamilton et al., 2017) with mean aggregation, in both edge directions.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
    """

    def make_conv(self, in_dim: int, out_dim: int, root: bool) -> nn.Module:
        return SAGEConv(in_dim, out_dim, aggr="mean", root_weight=root, bias=root)
