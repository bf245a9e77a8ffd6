"""Per-environment row access: ``t[b, idx[b]]`` done as one contiguous ``index_select``/``index_copy_``.

Advanced indexing with two index tensors is several times slower on CPU than selecting rows
of a flattened view; these helpers are the simulator's hot path.
"""

from __future__ import annotations

import torch


def _flat(t: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b, r = t.shape[:2]
    return t.view(b * r, *t.shape[2:]), torch.arange(b, device=idx.device) * r + idx


def rows(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t[b, idx[b]]`` for every b: ``[B, R, *rest]``, ``[B]`` -> ``[B, *rest]`` (a copy)."""
    flat, i = _flat(t, idx)
    return flat.index_select(0, i)


def put_rows(t: torch.Tensor, idx: torch.Tensor, value: torch.Tensor) -> None:
    """``t[b, idx[b]] = value[b]`` for every b, in place (``t`` must be contiguous)."""
    flat, i = _flat(t, idx)
    flat.index_copy_(0, i, value.to(t.dtype))


def csr_rows(
    ptr: torch.Tensor, count: torch.Tensor, idx: torch.Tensor, row: torch.Tensor, width: int, pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entries ``idx[b, ptr[b, row[b]] + j]`` for ``j < count[b, row[b]]`` of compressed rows, ``[B, width]``.

    Returns the entries (``pad`` beyond a row's count, so that scatters never touch a real index
    twice) and their mask.
    """
    start, n = rows(ptr, row), rows(count, row)
    j = torch.arange(width, device=row.device)
    mask = j < n[:, None]
    pos = (start[:, None] + j).clamp_max(idx.shape[1] - 1)
    return torch.where(mask, idx.gather(1, pos), pad), mask
