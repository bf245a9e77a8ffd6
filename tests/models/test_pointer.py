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


def test_masking_and_clipping_of_the_unnormalised_pointer() -> None:
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16, num_heads=4, tanh_clip=2.0, normalize="none")
    query, servers, mask = _inputs(4, 20)
    logits, _ = dec(query * 50, servers * 50, mask)
    assert torch.isneginf(logits[~mask]).all()
    assert (logits[mask].abs() <= 2.0).all()
    assert logits[mask].abs().max() > 1.5  # large inputs do reach the clip


def test_normalised_scores_are_centred_cosines_whatever_the_input_scale() -> None:
    """u_n = s (cos(q, k_n) - mean over allowed of cos): bounded by 2 s, centred, scale-free."""
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16, num_heads=4, tanh_clip=0.0, normalize="cosine")  # no clip: the scores
    with torch.no_grad():
        dec.log_scale.fill_(0.5)
    query, servers, mask = _inputs(4, 20)
    logits, z = dec(query, servers, mask)
    assert torch.isneginf(logits[~mask]).all()
    centred = torch.where(mask, logits, 0.0).sum(-1) / mask.sum(-1)
    torch.testing.assert_close(centred, torch.zeros(4), atol=1e-6, rtol=0)
    assert (logits[mask].abs() <= 2 * torch.e**0.5 + 1e-6).all()
    # By hand for one row: the pointer query from [task, z], the pointer keys, the cosines.
    _, _, keys = dec.server_proj(servers).chunk(3, dim=-1)
    q = dec.pointer_query(torch.cat([query, z], dim=-1))
    cos = torch.nn.functional.cosine_similarity(q[0].expand(20, -1), keys[0], dim=-1)
    allowed = mask[0]
    expected = torch.e**0.5 * (cos[allowed] - cos[allowed].mean())
    torch.testing.assert_close(logits[0, allowed], expected, rtol=1e-5, atol=1e-6)
    # The GCN failure mode: the encoder's output (the task query) growing 50x moves nothing.
    big = CrossAttentionPointer(16, num_heads=4, tanh_clip=10.0, normalize="cosine")
    big.load_state_dict(dec.state_dict())
    small_logits, _ = big(query, servers, mask)
    large_logits, _ = big(query * 50, servers, mask)
    assert (large_logits[mask].abs() < 10 * torch.tanh(torch.tensor(2 * torch.e**0.5))).all()
    assert torch.isfinite(small_logits[mask]).all() and torch.isfinite(large_logits[mask]).all()


def test_centred_scores_are_the_dot_products_minus_their_mean_over_allowed_servers() -> None:
    """The default: u_n = q.k_n / sqrt(D) - mean over allowed; a shift common to all servers is gone."""
    torch.manual_seed(0)
    dec = CrossAttentionPointer(16, num_heads=4, tanh_clip=0.0)
    raw = CrossAttentionPointer(16, num_heads=4, tanh_clip=0.0, normalize="none")
    raw.load_state_dict(dec.state_dict())
    query, servers, mask = _inputs(4, 20)
    logits, _ = dec(query, servers, mask)
    raw_logits, _ = raw(query, servers, mask)
    for row in range(4):
        allowed = mask[row]
        expected = raw_logits[row, allowed] - raw_logits[row, allowed].mean()
        torch.testing.assert_close(logits[row, allowed], expected, rtol=1e-5, atol=1e-6)
    # a bias in the pointer query's projection that adds the same to every server's score: no effect
    shifted = CrossAttentionPointer(16, num_heads=4, tanh_clip=0.0)
    shifted.load_state_dict(dec.state_dict())
    with torch.no_grad():
        shifted.server_proj.bias[32:] += 3.0  # every pointer key + 3: score + 3 * sum(q) / 4, the same for all n
    torch.testing.assert_close(shifted(query, servers, mask)[0], logits, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="normalize"):
        CrossAttentionPointer(16, normalize="layer")


def test_sum_aggregate_scales_the_attention_output_with_the_allowed_count() -> None:
    """aggregate='sum' is the mean attention output times the number of allowed servers."""
    torch.manual_seed(0)
    mean = CrossAttentionPointer(16, num_heads=4)
    total = CrossAttentionPointer(16, num_heads=4, aggregate="sum")
    total.load_state_dict(mean.state_dict())
    query, servers, mask = _inputs(3, 10)
    captured = {}
    mean.attn_out.register_forward_hook(lambda m, i, o: captured.__setitem__("mean", i[0]))
    total.attn_out.register_forward_hook(lambda m, i, o: captured.__setitem__("sum", i[0]))
    mean(query, servers, mask)
    total(query, servers, mask)
    count = mask.sum(-1, keepdim=True).float()
    torch.testing.assert_close(captured["sum"], captured["mean"] * count)
    with pytest.raises(ValueError, match="aggregate"):
        CrossAttentionPointer(16, aggregate="max")


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
