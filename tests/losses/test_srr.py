"""SRR: hand-computed values, near zero for N(0, I) samples, finite in degenerate batches."""

from __future__ import annotations

import math

import pytest
import torch

from scale_pl.losses import SRRLoss, decorrelation_loss, feature_stats, gaussian_kl_loss, srr_loss


def test_hand_computed_4x2() -> None:
    z = torch.tensor([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]], dtype=torch.float64)
    # Both columns: mean 2.5, biased variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25.
    # Covariance: (0.75 + 0.75 + 0.75 + 0.75) / 4 = 0.75, correlation 0.75 / 1.25 = 0.6.
    # Decorrelation: two off-diagonal entries, (0.36 + 0.36) / (2 * 1) = 0.36.
    # KL per dim: 0.5 * (1.25 + 2.5^2 - 1 - ln 1.25); the mean over the two equal dims is the same.
    kl = 0.5 * (1.25 + 6.25 - 1.0 - math.log(1.25))
    assert decorrelation_loss(z, eps=1e-12).item() == pytest.approx(0.36, abs=1e-9)
    assert gaussian_kl_loss(z, eps=1e-12).item() == pytest.approx(kl, abs=1e-9)
    total = srr_loss(z, decorrelation_weight=0.5, kl_weight=2.0, eps=1e-12)
    assert total.item() == pytest.approx(0.5 * 0.36 + 2.0 * kl, abs=1e-9)


def test_hand_computed_three_dims_with_a_constant_column() -> None:
    z = torch.tensor([[1.0, 5.0, 0.0], [3.0, 5.0, 2.0]], dtype=torch.float64)
    eps = 1e-5
    # Columns 0 and 2: means 2 and 1, variance 1, perfectly correlated (r = 1 / (1 + eps)).
    # Column 1 is constant: correlation 0 with the others.
    r = 1.0 / (1.0 + eps)
    assert decorrelation_loss(z, eps).item() == pytest.approx(2 * r**2 / 6, rel=1e-9)
    kl0 = 0.5 * (1.0 + 4.0 - 1.0 - math.log(1.0 + eps))
    kl1 = 0.5 * (0.0 + 25.0 - 1.0 - math.log(eps))
    kl2 = 0.5 * (1.0 + 1.0 - 1.0 - math.log(1.0 + eps))
    assert gaussian_kl_loss(z, eps).item() == pytest.approx((kl0 + kl1 + kl2) / 3, rel=1e-9)


def test_near_zero_for_independent_standard_normals() -> None:
    z = torch.randn(20000, 8, generator=torch.Generator().manual_seed(0))
    decorrelation, kl = decorrelation_loss(z), gaussian_kl_loss(z)
    assert 0 <= decorrelation.item() < 5e-4
    assert abs(kl.item()) < 1e-3


def test_decorrelation_is_scale_free_and_one_for_copies() -> None:
    z = torch.randn(500, 4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(decorrelation_loss(3.0 * z + 7.0), decorrelation_loss(z), rtol=1e-4, atol=1e-6)
    copies = z[:, :1].repeat(1, 4)
    assert decorrelation_loss(copies).item() == pytest.approx(1.0, abs=1e-4)
    assert decorrelation_loss(z[:, :1]).item() == 0.0  # one dimension: no off-diagonal entry


@pytest.mark.parametrize(
    "z",
    [
        torch.randn(1, 6),
        torch.randn(2, 6),
        torch.cat([torch.randn(16, 3), torch.full((16, 1), 2.0)], dim=1),
        torch.zeros(4, 5),
    ],
    ids=["batch1", "batch2", "constant_column", "all_zero"],
)
def test_finite_values_and_gradients_in_degenerate_batches(z: torch.Tensor) -> None:
    z = z.clone().requires_grad_(True)
    total, parts = SRRLoss(1.0, 1.0)(z)
    assert torch.isfinite(total) and all(torch.isfinite(v) for v in parts.values())
    total.backward()
    assert torch.isfinite(z.grad).all()


def test_module_matches_functional_and_reports_components() -> None:
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(2))
    loss = SRRLoss(decorrelation_weight=0.3, kl_weight=0.7)
    total, parts = loss(z)
    assert set(parts) == {"decorrelation", "kl"}
    torch.testing.assert_close(total, srr_loss(z, 0.3, 0.7))
    torch.testing.assert_close(total, 0.3 * parts["decorrelation"] + 0.7 * parts["kl"])
    off_total, off_parts = SRRLoss(0.0, 0.0)(z)
    assert off_total.item() == 0.0 and off_parts["kl"] > 0
    assert srr_loss(z, 0.0, 0.0).item() == 0.0
    assert "kl_weight=0.7" in repr(loss)


def test_invalid_arguments_and_shapes() -> None:
    with pytest.raises(ValueError):
        SRRLoss(-1.0, 1.0)
    with pytest.raises(ValueError):
        SRRLoss(1.0, 1.0, eps=0.0)
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        gaussian_kl_loss(torch.zeros(3))


def test_feature_stats() -> None:
    z = torch.tensor([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    stats = feature_stats(z)
    assert stats["mean"] == pytest.approx(2.5)
    assert stats["std"] == pytest.approx(math.sqrt(1.25))
    assert stats["decorrelation"] == pytest.approx(0.36, abs=1e-4)
    assert stats["kl"] == pytest.approx(gaussian_kl_loss(z).item())
