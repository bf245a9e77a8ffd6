"""The cross-attention pointer: one task queries any number of servers."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scale_pl.models.layers import reset_module

POINTER_NORMS = ("centre", "cosine", "none")


class CrossAttentionPointer(nn.Module):
    """Multi-head cross-attention from the task to the servers, then a pointer over the servers.

    1. Attention (the "glimpse" of Kool et al., 2019): the task embedding is the query, the
       server embeddings the keys and values, over the feasible servers only; the heads are
       concatenated and projected to ``z`` ``[B, D]``, *the attention feature* that SRR
       regularises and the critic reads.
    2. Pointer: a query projected from ``[task embedding, z]`` is scored against a projected key
       of each server, clipped as ``tanh_clip * tanh(u_n)`` and set to ``-inf`` at infeasible
       servers. Feeding ``z`` into the pointer makes the policy's decision depend on the feature
       SRR shapes. The raw score is ``d_n = q . k_n / sqrt(D)``; ``normalize`` chooses
       ``u_n``:

       - ``"centre"`` (the default): ``u_n = d_n - mean_m d_m`` over the allowed servers. The
         softmax cannot see a shift common to every server, so nothing pulls such a drift back;
         left alone it carries every score into the same end of the tanh (a flat softmax with
         no gradient: how the GCN encoder failed to learn). Centred, the tanh only saturates
         where servers truly differ.
       - ``"cosine"``: ``u_n = s * (cos(q, k_n) - mean_m cos(q, k_m))`` with ``s = exp(log_scale)``
         learned: bounded by ``2 s`` whatever the encoder does, but it learned far slower in
         our runs (docs/decisions.md).
       - ``"none"``: ``u_n = d_n``, the original pointer.

    ``aggregate="sum"`` multiplies the attention output by the number of allowed servers (a sum
    over servers instead of a mean), so that ``z`` grows with ``N``: the regime in which a
    feature's distribution shifts with the cluster size and SRR has something to correct. It
    exists for that study; ``"mean"`` is the size-free default.

    Nothing depends on a server's position, so the logits are permutation-equivariant over
    servers, ``z`` is invariant, and any ``N`` works.

    A row whose mask is all False (a finished environment, or no feasible server) is treated
    as "every server allowed, uniform": attention over all servers and all logits 0, so that
    log-probabilities and entropies stay finite.

    Args:
        embed_dim: ``D``, size of the task and server embeddings and of ``z``.
        num_heads: attention heads; must divide ``embed_dim``.
        tanh_clip: ``C`` in ``C * tanh(u)``; ``0`` or less disables the clipping.
        normalize: ``"centre"``, ``"cosine"`` or ``"none"`` (above).
        aggregate: ``"mean"`` (attention weights sum to 1) or ``"sum"`` (x the allowed count).

    Shapes:
        - input: ``query`` ``[B, D]``, ``servers`` ``[B, N, D]``, ``mask`` ``[B, N]`` bool
        - output: ``logits`` ``[B, N]`` (``-inf`` where masked), ``z`` ``[B, D]``
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int = 4,
        tanh_clip: float = 10.0,
        normalize: str = "centre",
        aggregate: str = "mean",
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide embed_dim={embed_dim}")
        if normalize not in POINTER_NORMS:
            raise ValueError(f"normalize must be one of {', '.join(POINTER_NORMS)}, got {normalize!r}")
        if aggregate not in ("mean", "sum"):
            raise ValueError(f"aggregate must be 'mean' or 'sum', got {aggregate!r}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.tanh_clip = tanh_clip
        self.normalize = normalize
        self.aggregate = aggregate
        self.log_scale = nn.Parameter(torch.zeros(())) if normalize == "cosine" else None
        self.attn_query = nn.Linear(embed_dim, embed_dim)
        # Attention key, attention value and pointer key of each server, in one matrix product.
        self.server_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.attn_out = nn.Linear(embed_dim, embed_dim)
        self.pointer_query = nn.Linear(2 * embed_dim, embed_dim)

    def reset_parameters(self) -> None:
        reset_module(self)
        if self.log_scale is not None:
            nn.init.zeros_(self.log_scale)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.embed_dim // self.num_heads).transpose(1, 2)

    def _attend(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """The attention feature ``z`` ``[B, D]``; ``mask`` must have a True in every row."""
        q = self._split_heads(self.attn_query(query).unsqueeze(1))  # [B, H, 1, D/H]
        k, v = self._split_heads(keys), self._split_heads(values)  # [B, H, N, D/H]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        out = out.reshape(query.shape[0], self.embed_dim)
        if self.aggregate == "sum":
            out = out * mask.sum(dim=-1, keepdim=True).to(out.dtype)
        return self.attn_out(out)

    def forward(
        self, query: torch.Tensor, servers: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score every server for the task.

        Args:
            query: ``[B, D]`` task embedding.
            servers: ``[B, N, D]`` server embeddings.
            mask: ``[B, N]`` bool, True where the server may be chosen.

        Returns:
            ``(logits [B, N], z [B, D])``.
        """
        free = ~mask.any(dim=-1, keepdim=True)  # [B, 1] rows with nothing to choose from
        allowed = mask | free
        keys, values, pointer_keys = self.server_proj(servers).chunk(3, dim=-1)  # 3 x [B, N, D]
        z = self._attend(query, keys, values, allowed)
        q = self.pointer_query(torch.cat([query, z], dim=-1))  # [B, D]
        if self.normalize == "cosine":
            scores = torch.einsum("bd,bnd->bn", F.normalize(q, dim=-1), F.normalize(pointer_keys, dim=-1))
        else:
            scores = torch.einsum("bd,bnd->bn", q, pointer_keys) / math.sqrt(self.embed_dim)
        if self.normalize != "none":
            weights = allowed.to(scores.dtype)
            scores = scores - (scores * weights).sum(-1, keepdim=True) / weights.sum(-1, keepdim=True)
        if self.log_scale is not None:
            scores = self.log_scale.exp() * scores
        if self.tanh_clip > 0:
            scores = self.tanh_clip * torch.tanh(scores)
        logits = scores.masked_fill(~allowed, float("-inf"))
        logits = logits.masked_fill(free, 0.0)
        return logits, z

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
            f"tanh_clip={self.tanh_clip}, normalize={self.normalize!r}, aggregate={self.aggregate!r})"
        )
