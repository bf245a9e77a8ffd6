"""Auxiliary losses: Structured Representation Regularization (SRR) on the attention feature."""

from scale_pl.losses.srr import SRRLoss, decorrelation_loss, feature_stats, gaussian_kl_loss, srr_loss

__all__ = ["SRRLoss", "decorrelation_loss", "feature_stats", "gaussian_kl_loss", "srr_loss"]
