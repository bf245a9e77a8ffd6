"""Per-environment row access: ``t[b, idx[b]]`` done as one contiguous ``index_select``/``index_copy_``.

Advanced indexing with two index tensors is several times slower on CPU than selecting rows
of a flattened view; these helpers are the simulator's hot path. A step reads many tensors at the
same per-environment index, so it computes the flat index ``b * R + idx[b]`` once
(:func:`flat_index`) and reads each tensor with :func:`take_rows`.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=32)  # a step uses about 6 widths; evaluation alternates a few shapes
def _offsets(batch: int, width: int, device: torch.device) -> torch.Tensor:
    """``[batch]``: ``b * width`` (cached: every step of every environment of that size needs them; never written)."""
    return torch.arange(batch, device=device) * width


@lru_cache(maxsize=64)
def positions(width: int, device: torch.device) -> torch.Tensor:
    """``[width]``: ``0 .. width - 1`` (cached, never written)."""
    return torch.arange(width, device=device)


def flat_index(idx: torch.Tensor, width: int) -> torch.Tensor:
    """``[B]`` -> ``[B]``: ``b * width + idx[b]``, the row of ``t[b, idx[b]]`` in ``t`` seen as ``[B * width, ...]``."""
    return _offsets(idx.shape[0], width, idx.device) + idx


def take_rows(t: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``t[b, idx[b]]`` for every b, given ``flat = flat_index(idx, R)``: ``[B, R, *rest]`` -> ``[B, *rest]``."""
    return t.view(-1, *t.shape[2:]).index_select(0, flat)


def rows(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t[b, idx[b]]`` for every b: ``[B, R, *rest]``, ``[B]`` -> ``[B, *rest]`` (a copy)."""
    return take_rows(t, flat_index(idx, t.shape[1]))


def column_of_rows(t: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """``t[b, n, col[b]]`` for every b and n: ``[B, N, K]``, ``[B]`` -> ``[B, N]`` (a copy)."""
    bs, n, k = t.shape
    return torch.take(t, _offsets(bs * n, k, col.device).view(bs, n) + col[:, None])


def csr_rows(
    ptr: torch.Tensor, count: torch.Tensor, idx: torch.Tensor, row: torch.Tensor, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entries ``idx[b, ptr[b, r] + j]`` for ``j < count[b, r]`` of compressed rows, ``[B, width]``, and their mask.

    ``row = flat_index(r, ptr.shape[1])`` names row ``r[b]`` of each environment. Beyond a row's count
    the entries are those of the next rows (valid indices, but not the row's: mask them).
    """
    start, n = take_rows(ptr, row), take_rows(count, row)
    j = positions(width, row.device)
    return idx.gather(1, (start[:, None] + j).clamp_max(idx.shape[1] - 1)), j < n[:, None]
