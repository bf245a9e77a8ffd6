"""Shared fixtures for the model tests: random valid observations and small policies.

Helpers are handed out as fixtures (not imported from this file) so that they never clash with
another test folder's ``conftest``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
import torch

from scale_pl.models import ENCODERS, SCALEPolicy, build_policy
from scale_pl.models.synthetic import random_observation
from scale_pl.sim.system.observation import Observation

NUM_TYPES = 6
NUM_CLASSES = 4


def _make_obs(
    batch_size: int, num_nodes: int, num_edges: int, num_servers: int, seed: int = 0, feasible_prob: float = 0.7
) -> Observation:
    """Random valid observation (random DAGs among real nodes, >= 1 feasible server per row)."""
    return random_observation(
        batch_size,
        num_nodes,
        num_edges,
        num_servers,
        num_types=NUM_TYPES,
        num_classes=NUM_CLASSES,
        feasible_prob=feasible_prob,
        generator=torch.Generator().manual_seed(seed),
    )


def _make_policy(encoder: str = "gin", seed: int = 0, embed_dim: int = 32, num_layers: int = 2) -> SCALEPolicy:
    """A small policy in eval mode with seeded weights (K=6 task types, C=4 server classes)."""
    torch.manual_seed(seed)
    policy = build_policy(
        NUM_TYPES, NUM_CLASSES, encoder=encoder, embed_dim=embed_dim, hidden_dim=32, num_layers=num_layers
    )
    return policy.eval()


def _permute_servers(obs: Observation, perm: torch.Tensor) -> Observation:
    """The same observation with the servers reordered by ``perm`` ``[N]``."""
    names = ("servers", "mask", "est_finish", "backlog", "speed", "transfer")
    return replace(obs, **{name: getattr(obs, name)[:, perm] for name in names})


@pytest.fixture
def make_obs() -> Callable[..., Observation]:
    return _make_obs


@pytest.fixture
def make_policy() -> Callable[..., SCALEPolicy]:
    return _make_policy


@pytest.fixture
def permute_servers() -> Callable[[Observation, torch.Tensor], Observation]:
    return _permute_servers


@pytest.fixture(params=sorted(ENCODERS))
def encoder_name(request: pytest.FixtureRequest) -> str:
    """Each encoder's short name in turn (``gatv2``, ``gcn``, ``gin``, ``mlp``, ``sage``, ``transformer``)."""
    return request.param
