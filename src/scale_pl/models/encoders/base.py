"""The DAG encoder interface: padded workflow graphs in, per-node embeddings out.

Every encoder shares one constructor signature (as PyG's ``BasicGNN`` does), so a YAML
``class_path`` swaps one for another. A node must see both its ancestors and its descendants
(what waits on a task matters as much as what it waited for), so by default each graph layer
is a :class:`BidirectionalConv`: one convolution over the parent -> child edges plus a separate
one, with its own weights, over the reversed edges, summed (GIN has its own fused layer). Separate weights keep the two
directions distinguishable and work with every PyG convolution, including those without edge
features (GCN, GIN, SAGE). Only the downward convolution carries the node's own features (self
loop, root weight, bias); the upward one aggregates the children alone, so the self term is not
computed twice (in a DAG of ``V`` nodes and ``E`` edges, self loops are ``V`` extra messages
per direction: more than the edges themselves).
"""

from __future__ import annotations

from itertools import pairwise
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import BatchNorm

from scale_pl.models.layers import reset_module, resolve_activation

NORMS = (None, "layer", "batch")


def make_norm(norm: str | None, dim: int) -> nn.Module:
    """A per-node normalisation: ``None`` (identity), ``"layer"`` or ``"batch"``."""
    if norm is None:
        return nn.Identity()
    if norm == "layer":
        return nn.LayerNorm(dim)
    if norm == "batch":
        # A one-node batch (one single-task workflow) must not fail in training mode.
        return BatchNorm(dim, allow_single_element=True)
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")


def flat_positions(node_mask: torch.Tensor) -> torch.Tensor:
    """``[B * M]`` long: the row of each padded slot among the real nodes (row-major order)."""
    return torch.cumsum(node_mask.reshape(-1).long(), dim=0) - 1


def padded_to_graph(
    nodes: torch.Tensor, node_mask: torch.Tensor, edges: torch.Tensor, edge_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten a padded batch of graphs into one disjoint PyG graph, without a loop over graphs.

    The real nodes are taken row-major, a cumulative sum over the node mask gives each slot its
    new index, and graph ``b``'s local edge indices are offset by ``b * M`` before the remap.

    Args:
        nodes: ``[B, M, F]`` node features.
        node_mask: ``[B, M]`` real nodes (any pattern, not only a prefix).
        edges: ``[B, E, 2]`` (parent, child) local indices into ``nodes``.
        edge_mask: ``[B, E]`` real edges. Edges touching a padded node are dropped too.

    Returns:
        ``x`` ``[V, F]`` (the real nodes, row-major) and ``edge_index`` ``[2, E']`` (parent row 0,
        child row 1) into ``x``.
    """
    b, m, _ = nodes.shape
    x = nodes[node_mask]
    flat_mask = node_mask.reshape(-1)
    offset = torch.arange(b, device=nodes.device).mul_(m).view(b, 1, 1)
    flat_edges = (edges.long() + offset)[edge_mask]  # [E', 2] indices into the B*M slots
    flat_edges = flat_edges[flat_mask[flat_edges].all(dim=-1)]
    edge_index = flat_positions(node_mask)[flat_edges].t().contiguous()
    return x, edge_index


class BidirectionalConv(nn.Module):
    """Sum of a convolution along the edges and one against them.

    Args:
        down: convolution over parent -> child edges (a node hears its parents, and itself).
        up: convolution over child -> parent edges (a node hears its children).

    Shapes:
        - input: ``x`` ``[V, F_in]``, ``edge_index`` ``[2, E]`` (row 0 parents, row 1 children)
        - output: ``[V, F_out]``
    """

    def __init__(self, down: nn.Module, up: nn.Module) -> None:
        super().__init__()
        self.down = down
        self.up = up

    def reset_parameters(self) -> None:
        self.down.reset_parameters()
        self.up.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.down(x, edge_index) + self.up(x, edge_index.flip(0))


class DAGEncoder(nn.Module):
    """Base class of the workflow-graph encoders.

    ``num_layers`` layers map ``in_dim -> hidden_dim -> ... -> out_dim``; between layers come
    the normalisation, the activation and dropout (none after the last layer, as in PyG's
    ``BasicGNN``). Subclasses implement :meth:`make_conv` (one direction of one layer) or
    override :meth:`make_layer`. With ``L`` layers a node hears every node within ``L`` hops,
    edges taken either way: ancestors and descendants, and from 2 layers on also siblings.

    Args:
        in_dim: node feature size (``node_feature_dim(K)`` for K task types).
        hidden_dim: width of the hidden layers.
        out_dim: size of the returned node embeddings.
        num_layers: number of message-passing layers (>= 1).
        act: activation name (``"relu"``, ``"gelu"``, ...; PyG's resolver) or module.
        norm: ``None``, ``"layer"`` or ``"batch"`` between layers.
        dropout: dropout probability between layers.

    Shapes:
        - :meth:`forward`: ``x`` ``[V, in_dim]``, ``edge_index`` ``[2, E]`` -> ``[V, out_dim]``
        - :meth:`encode`: padded ``nodes`` ``[B, M, in_dim]`` ... -> ``[B, M, out_dim]``
        - :meth:`encode_graphs`: the same plus ``current`` ``[B]`` -> two ``[B, out_dim]``
    """

    #: False for encoders that ignore the graph: :meth:`encode` then skips building edges.
    uses_edges: ClassVar[bool] = True

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int,
        act: str = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_dim = in_dim
        self.hidden_dim = hidden_dim
        self.out_dim = out_dim
        self.num_layers = num_layers
        self.act_name = act if isinstance(act, str) else type(act).__name__
        self.norm_name = norm
        self.dropout = dropout
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(self.make_layer(a, b) for a, b in pairwise(dims))
        self.norms = nn.ModuleList(make_norm(norm, hidden_dim) for _ in range(num_layers - 1))
        self.act = resolve_activation(act)

    def make_conv(self, in_dim: int, out_dim: int, root: bool) -> nn.Module:
        """One direction of one layer, called as ``conv(x, edge_index)``.

        ``root``: whether this direction carries the node's own features (self loop, root
        weight, bias); True for the downward convolution, False for the upward one.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_conv or make_layer")

    def make_layer(self, in_dim: int, out_dim: int) -> nn.Module:
        """One layer, called as ``layer(x, edge_index)``: both directions by default."""
        down = self.make_conv(in_dim, out_dim, root=True)
        return BidirectionalConv(down, self.make_conv(in_dim, out_dim, root=False))

    def reset_parameters(self) -> None:
        """Re-initialise every layer and normalisation."""
        reset_module(self)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Embed the nodes of a (disjoint union of) graph(s).

        Args:
            x: ``[V, in_dim]`` node features.
            edge_index: ``[2, E]`` long, row 0 parents, row 1 children.

        Returns:
            ``[V, out_dim]`` node embeddings.
        """
        for i, layer in enumerate(self.layers):
            x = layer(x, edge_index)
            if i < self.num_layers - 1:
                x = self.act(self.norms[i](x))
                x = F.dropout(x, p=self.dropout, training=self.training)
        return x

    def _flatten(
        self, nodes: torch.Tensor, node_mask: torch.Tensor, edges: torch.Tensor, edge_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if nodes.shape[-1] != self.in_dim:
            raise ValueError(f"{type(self).__name__} expects {self.in_dim} node features, got {nodes.shape[-1]}")
        if self.uses_edges:
            return padded_to_graph(nodes, node_mask, edges, edge_mask)
        return nodes[node_mask], nodes.new_zeros((2, 0), dtype=torch.long)

    def encode(
        self, nodes: torch.Tensor, node_mask: torch.Tensor, edges: torch.Tensor, edge_mask: torch.Tensor
    ) -> torch.Tensor:
        """Embed a padded batch of workflow graphs (the observation's DAG fields).

        Args:
            nodes: ``[B, M, in_dim]`` node features.
            node_mask: ``[B, M]`` real nodes.
            edges: ``[B, E, 2]`` (parent, child) local indices into ``nodes``.
            edge_mask: ``[B, E]`` real edges.

        Returns:
            ``[B, M, out_dim]`` embeddings, zero at padded nodes.
        """
        h = self(*self._flatten(nodes, node_mask, edges, edge_mask))
        out = h.new_zeros((*node_mask.shape, self.out_dim))
        out[node_mask] = h
        return out

    def encode_graphs(
        self,
        nodes: torch.Tensor,
        node_mask: torch.Tensor,
        edges: torch.Tensor,
        edge_mask: torch.Tensor,
        current: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One node's embedding per graph and each graph's mean node embedding.

        Equal to indexing and mean-pooling :meth:`encode`'s output, without building the
        padded ``[B, M, out_dim]`` tensor.

        Args:
            nodes, node_mask, edges, edge_mask: as in :meth:`encode`.
            current: ``[B]`` long, index into ``nodes`` of a real node of each graph.

        Returns:
            ``(h_current [B, out_dim], h_mean [B, out_dim])``; the mean is over real nodes.
        """
        h = self(*self._flatten(nodes, node_mask, edges, edge_mask))  # [V, out_dim]
        b, m = node_mask.shape
        rows = torch.arange(b, device=h.device)
        h_current = h[flat_positions(node_mask)[rows * m + current]]
        graph_of_node = torch.nonzero(node_mask.reshape(-1)).squeeze(1) // m  # [V]
        sums = h.new_zeros((b, self.out_dim)).index_add_(0, graph_of_node, h)
        counts = node_mask.sum(dim=1, keepdim=True).clamp_(min=1).to(h.dtype)
        return h_current, sums / counts

    def extra_repr_args(self) -> str:
        """Encoder-specific constructor arguments shown by ``repr`` (e.g. ``heads=4``)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr_args()
        return (
            f"{type(self).__name__}({self.in_dim}, {self.hidden_dim}, {self.out_dim}, num_layers={self.num_layers}, "
            f"act={self.act_name!r}, norm={self.norm_name!r}, dropout={self.dropout}{', ' + extra if extra else ''})"
        )
