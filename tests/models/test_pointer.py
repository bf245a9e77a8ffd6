"""The cross-attention pointer on its own: equivariance, masking, clipping, any N."""

from __future__ import annotations

import pytest
import torch

from scale_pl.models import CrossAttentionPointer


def _inputs(b: int, n: int, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(b, n, generator=g) < 0.6
    mask[:, 0] = True
    return torch.randn(b, d, generator=g), torch.randn(b, n, d, generator=g), mask


@pytest.mark.parametrize("n", [1, 3, 16, 1024])
def test_shapes_any_n(n: int) -> None:
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16, num_heads=4)
    logits, z = dec(*_inputs(2, n))
    assert logits.shape == (2, n) and z.shape == (2, 16)
    assert torch.isfinite(z).all()


def test_permutation_equivariance() -> None:
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16, num_heads=2)
    query, servers, mask = _inputs(3, 12)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(5))
    logits, z = dec(query, servers, mask)
    logits_p, z_p = dec(query, servers[:, perm], mask[:, perm])
    torch.testing.assert_close(logits_p, logits[:, perm])
    torch.testing.assert_close(z_p, z, rtol=1e-5, atol=1e-6)


def test_masking_and_clipping() -> None:
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16, num_heads=4, tanh_clip=2.0)
    query, servers, mask = _inputs(4, 20)
    logits, _ = dec(query * 50, servers * 50, mask)
    assert torch.isneginf(logits[~mask]).all()
    assert (logits[mask].abs() <= 2.0).all()
    assert logits[mask].abs().max() > 1.5  # large inputs do reach the clip


def test_infeasible_servers_do_not_change_z_or_feasible_logits() -> None:
    """Attention only reads feasible servers, whatever the masked ones hold."""
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16)
    query, servers, mask = _inputs(3, 10)
    noisy = servers.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), 16) * 100
    logits, z = dec(query, servers, mask)
    logits_n, z_n = dec(query, noisy, mask)
    torch.testing.assert_close(z_n, z)
    torch.testing.assert_close(logits_n[mask], logits[mask])


def test_row_without_any_allowed_server_is_uniform_and_finite() -> None:
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16)
    query, servers, mask = _inputs(2, 7)
    mask[1] = False
    logits, z = dec(query, servers, mask)
    assert torch.equal(logits[1], torch.zeros(7))
    assert torch.isfinite(z).all()


def test_invalid_heads() -> None:
    with pytest.raises(ValueError, match="num_heads"):
        CrossAttentionPointer(10, num_heads=4)
