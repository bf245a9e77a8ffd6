"""Small building blocks shared by the policy's heads."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch_geometric.nn.resolver import activation_resolver


def resolve_activation(act: str | nn.Module, act_kwargs: dict[str, Any] | None = None) -> nn.Module:
    """An activation module from a name (``"relu"``, ``"gelu"``, ``"leaky_relu"``, ...) or a module."""
    return activation_resolver(act, **(act_kwargs or {}))


def mlp(in_dim: int, hidden_dim: int, out_dim: int, act: str | nn.Module = "relu") -> nn.Sequential:
    """``Linear -> act -> Linear``: the two-layer perceptron used for features and the critic."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), resolve_activation(act), nn.Linear(hidden_dim, out_dim))


def reset_module(module: nn.Module) -> None:
    """Re-initialise every submodule of ``module`` that knows how to (``reset_parameters``)."""
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` ``[B, L, D]`` over the rows where ``mask`` ``[B, L]`` is True.

    A row with no True entry averages over all ``L`` instead, so there is never a division by zero.

    Returns:
        ``[B, D]``.
    """
    mask = mask | ~mask.any(dim=-1, keepdim=True)
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1)
