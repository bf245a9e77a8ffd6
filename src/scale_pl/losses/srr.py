"""Structured Representation Regularization (SRR) on the attention feature ``z``.

Over a batch ``z`` ``[B, D]`` with per-dimension batch mean ``mu`` and (biased) variance ``var``:

- decorrelation: mean of the squared off-diagonal entries of the batch correlation matrix
  ``R = Zn^T Zn / B`` with ``Zn = (z - mu) / sqrt(var + eps)``, i.e.
  ``sum_{i != j} R_ij^2 / (D (D - 1))`` (0 when ``D = 1``);
- KL: ``KL(N(mu, diag var) || N(0, I))`` **averaged over dimensions** (not summed), i.e.
  ``mean_d 0.5 (var_d + mu_d^2 - 1 - log(var_d + eps))``.

Both are means over dimensions, so a weight keeps its meaning when ``D`` changes. The biased
variance and ``eps`` keep everything finite, with finite gradients, for a batch of 1 or 2 and
for constant dimensions (a constant dimension has zero correlation with the others, and a KL
of about ``0.5 (mu^2 - 1 - log eps)``: large, as a collapsed dimension deserves, but finite).
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_EPS = 1e-5


def _moments(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if z.dim() != 2:
        raise ValueError(f"z must be [B, D], got shape {tuple(z.shape)}")
    z = z if z.dtype in (torch.float32, torch.float64) else z.float()
    mean = z.mean(dim=0)
    var = (z - mean).pow(2).mean(dim=0)
    return mean, var


def decorrelation_loss(z: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Mean squared off-diagonal entry of the batch correlation matrix of ``z`` ``[B, D]`` (scalar)."""
    b, d = z.shape
    if b == 0 or d < 2:
        return z.sum() * 0.0
    mean, var = _moments(z)
    zn = (z - mean) / torch.sqrt(var + eps)
    corr = zn.t() @ zn / b  # [D, D]
    off_diagonal = corr.pow(2).sum() - torch.diagonal(corr).pow(2).sum()
    return off_diagonal / (d * (d - 1))


def gaussian_kl_loss(z: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """``KL(N(mu, diag var) || N(0, I))`` of the batch moments of ``z`` ``[B, D]``, mean over dims."""
    if z.shape[0] == 0:
        return z.sum() * 0.0
    mean, var = _moments(z)
    return 0.5 * (var + mean.pow(2) - 1.0 - torch.log(var + eps)).mean()


def srr_loss(
    z: torch.Tensor, decorrelation_weight: float = 1.0, kl_weight: float = 1.0, eps: float = DEFAULT_EPS
) -> torch.Tensor:
    """``decorrelation_weight * decorrelation(z) + kl_weight * KL(z)`` (scalar); see the module docstring.

    Args:
        z: ``[B, D]`` attention features of one batch (rows of finished environments removed).
        decorrelation_weight: weight of the decorrelation term (0 disables it).
        kl_weight: weight of the KL term (0 disables it).
        eps: added to the variance before dividing by its root or taking its log.
    """
    total = z.sum() * 0.0
    if decorrelation_weight:
        total = total + decorrelation_weight * decorrelation_loss(z, eps)
    if kl_weight:
        total = total + kl_weight * gaussian_kl_loss(z, eps)
    return total


class SRRLoss(nn.Module):
    """SRR as a module: weights fixed at construction, components returned for logging.

    Both weights 0 is the "no SRR" ablation (the total is then exactly 0, components still
    reported).

    Args:
        decorrelation_weight: weight of the decorrelation term.
        kl_weight: weight of the KL term.
        eps: variance floor (see the module docstring).

    Shapes:
        - input: ``z`` ``[B, D]``
        - output: ``(total, {"decorrelation": ..., "kl": ...})``, scalars; the components are
          unweighted and detached.
    """

    def __init__(self, decorrelation_weight: float = 1.0, kl_weight: float = 1.0, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        if decorrelation_weight < 0 or kl_weight < 0 or eps <= 0:
            raise ValueError("SRR weights must be >= 0 and eps > 0")
        self.decorrelation_weight = decorrelation_weight
        self.kl_weight = kl_weight
        self.eps = eps

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        decorrelation = decorrelation_loss(z, self.eps)
        kl = gaussian_kl_loss(z, self.eps)
        total = self.decorrelation_weight * decorrelation + self.kl_weight * kl
        return total, {"decorrelation": decorrelation.detach(), "kl": kl.detach()}

    def extra_repr(self) -> str:
        return f"decorrelation_weight={self.decorrelation_weight}, kl_weight={self.kl_weight}, eps={self.eps}"


@torch.no_grad()
def feature_stats(z: torch.Tensor, eps: float = DEFAULT_EPS) -> dict[str, float]:
    """Summary of ``z`` ``[B, D]`` for logging the distribution shift across server counts.

    Returns:
        ``mean`` (average over dims of the batch mean), ``std`` (average over dims of the batch
        standard deviation), ``kl`` and ``decorrelation`` as above.
    """
    mean, var = _moments(z)
    return {
        "mean": mean.mean().item(),
        "std": var.sqrt().mean().item(),
        "kl": gaussian_kl_loss(z, eps).item(),
        "decorrelation": decorrelation_loss(z, eps).item(),
    }
