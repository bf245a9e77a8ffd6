"""The value head."""

from __future__ import annotations

import torch
from torch import nn

from scale_pl.models.layers import masked_mean, mlp, reset_module


class Critic(nn.Module):
    """State value from the task embedding, the attention feature and the mean server embedding.

    The server summary is a mean over the feasible servers (over all servers where none is),
    never a sum, so its scale does not grow with ``N``.

    Args:
        embed_dim: ``D``, size of the task embedding, ``z`` and the server embeddings.
        hidden_dim: width of the MLP's hidden layer.
        act: activation name.

    Shapes:
        - input: ``task`` ``[B, D]``, ``z`` ``[B, D]``, ``servers`` ``[B, N, D]``, ``mask`` ``[B, N]``
        - output: ``[B]``
    """

    def __init__(self, embed_dim: int, hidden_dim: int = 64, act: str = "relu") -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.net = mlp(3 * embed_dim, hidden_dim, 1, act)

    def reset_parameters(self) -> None:
        reset_module(self)

    def forward(self, task: torch.Tensor, z: torch.Tensor, servers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = masked_mean(servers, mask)
        return self.net(torch.cat([task, z, pooled], dim=-1)).squeeze(-1)
