"""The datamodule's seeds and the shape of its training workloads."""

from __future__ import annotations

from pathlib import Path

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


def test_validation_workloads_can_come_from_another_mix(tmp_path) -> None:
    """data.val_workload_config: validate on the test's mix while training on a wider one."""
    conf = Path(__file__).resolve().parents[2] / "conf" / "workload"
    diverse, default = str(conf / "diverse.yaml"), str(conf / "default.yaml")
    kwargs = {"val_sizes": [4], "val_seeds": 2, "seed": 0}

    def val_arrivals(**extra) -> torch.Tensor:
        dm = RolloutDataModule(**kwargs, **extra)
        dm.setup("validate")
        return dm.val_batches[4].arrival

    mixed = val_arrivals(workload_config=diverse, val_workload_config=default)
    assert torch.equal(mixed, val_arrivals(workload_config=default))  # the default mix's validation set
    assert not torch.equal(mixed, val_arrivals(workload_config=diverse))  # not the training mix's
    assert RolloutDataModule(workload_config=diverse, **kwargs).val_workload_config == diverse  # None = training's

    other = tmp_path / "other.yaml"  # the same mix with another catalogue: the policy's features would differ
    other.write_text(Path(default).read_text().replace("{work: 2.0, cv: 0.5,", "{work: 3.0, cv: 0.5,", 1))
    assert other.read_text() != Path(default).read_text()
    with pytest.raises(ScaleError, match=r"val_workload_config: .* another catalogue"):
        RolloutDataModule(workload_config=default, val_workload_config=str(other), **kwargs)
