"""The datamodule's seeds and the shape of its training workloads."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from scale_pl.data.datamodule import RolloutDataModule
from scale_pl.errors import ScaleError


def _pool(dm: RolloutDataModule) -> torch.Tensor:
    dm.setup("fit")
    return dm.collector.pool.arrival


def test_data_seed_follows_seed_everything_unless_set(monkeypatch) -> None:
    """Training seeds differ in their pool (and draws), not only in the initial weights."""
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    kwargs = {"num_envs": 2, "pool_size": 3, "val_sizes": [16], "train_workflows_per_server": 1}
    L.seed_everything(1)
    first = _pool(RolloutDataModule(**kwargs))
    L.seed_everything(2)
    second = _pool(RolloutDataModule(**kwargs))
    assert RolloutDataModule(**kwargs).base_seed == 2
    assert not torch.equal(first, second)
    L.seed_everything(1)
    again = _pool(RolloutDataModule(**kwargs))
    assert torch.equal(first, again)
    # an explicit data.seed wins over the global seed
    fixed = [_pool(RolloutDataModule(seed=7, **kwargs)) for _ in (L.seed_everything(1), L.seed_everything(2))]
    assert torch.equal(fixed[0], fixed[1]) and RolloutDataModule(seed=7, **kwargs).base_seed == 7


def test_training_workloads_have_the_shape_of_the_test_workloads() -> None:
    """By default a training workload has 4 workflows per server, like validation and test."""
    dm = RolloutDataModule(num_envs=2, pool_size=4, train_sizes=[4, 8], val_sizes=[4], seed=0)
    _pool(dm)
    batch = dm.collector.pool
    workflows, servers = batch.wf_valid.sum(-1), batch.server_valid.sum(-1)
    assert set(servers.tolist()) <= {4, 8}
    assert torch.equal(workflows, 4 * servers)
    assert dm.episode_workflows(8) == 32 and dm.episode_workflows(48) == 192
    assert RolloutDataModule(workflows_per_episode=20, val_sizes=[4]).episode_workflows(48) == 20
    for bad in ({"train_workflows_per_server": 0}, {"workflows_per_episode": 0}):
        with pytest.raises(ScaleError, match=next(iter(bad))):
            RolloutDataModule(val_sizes=[4], **bad)
