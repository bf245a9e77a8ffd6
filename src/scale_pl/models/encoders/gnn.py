"""Graph encoders on PyG convolutions: GATv2, GIN, GCN, GraphSAGE and a graph transformer.

Each one only says which convolution makes one direction of a layer; the layering, the two
directions, normalisation, activation, dropout and the padded-batch handling live in
:class:`~scale_pl.models.encoders.base.DAGEncoder`. Only PyG's pure-torch code paths are used
(no torch_scatter, torch_sparse or pyg-lib).
"""

from __future__ import annotations

from torch import nn
from torch_geometric.nn import GATv2Conv, GCNConv, GINConv, SAGEConv, TransformerConv

from scale_pl.models.encoders.base import DAGEncoder
from scale_pl.models.layers import mlp


def _check_heads(heads: int, dims: tuple[int, ...], name: str) -> None:
    if heads < 1 or any(d % heads for d in dims):
        raise ValueError(f"{name}: heads={heads} must divide hidden_dim and out_dim {dims}")


class GATv2Encoder(DAGEncoder):
    """GATv2 attention (Brody et al., 2022) in both edge directions.

    Heads are concatenated, each of width ``dim // heads``; attention includes a self loop.

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

    def make_conv(self, in_dim: int, out_dim: int) -> nn.Module:
        return GATv2Conv(in_dim, out_dim // self.heads, heads=self.heads, concat=True)

    def extra_repr_args(self) -> str:
        return f"heads={self.heads}"


class GraphTransformerEncoder(DAGEncoder):
    """Graph transformer (``TransformerConv``, Shi et al., 2021) in both edge directions.

    Multi-head dot-product attention over each node's neighbours plus a skip (root) weight;
    heads concatenated, each of width ``dim // heads``.

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

    def make_conv(self, in_dim: int, out_dim: int) -> nn.Module:
        return TransformerConv(in_dim, out_dim // self.heads, heads=self.heads, concat=True, root_weight=True)

    def extra_repr_args(self) -> str:
        return f"heads={self.heads}"


class GINEncoder(DAGEncoder):
    """GIN (Xu et al., 2019) in both edge directions: ``MLP((1 + eps) x + sum of neighbours)``.

    The inner MLP is ``Linear -> act -> Linear``; ``eps`` is learned.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
    """

    def make_conv(self, in_dim: int, out_dim: int) -> nn.Module:
        return GINConv(mlp(in_dim, out_dim, out_dim, self.act_name), train_eps=True)


class GCNEncoder(DAGEncoder):
    """GCN (Kipf & Welling, 2017) in both edge directions, symmetric normalisation, self loops.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
    """

    def make_conv(self, in_dim: int, out_dim: int) -> nn.Module:
        return GCNConv(in_dim, out_dim)


class SAGEEncoder(DAGEncoder):
    """GraphSAGE (Hamilton et al., 2017) with mean aggregation, in both edge directions.

    Args:
        in_dim, hidden_dim, out_dim, num_layers, act, norm, dropout: see :class:`DAGEncoder`.
    """

    def make_conv(self, in_dim: int, out_dim: int) -> nn.Module:
        return SAGEConv(in_dim, out_dim, aggr="mean")
