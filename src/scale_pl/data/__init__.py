"""Data for training: rollouts streamed from the batched simulator, fixed validation workloads."""

from scale_pl.data.datamodule import RolloutDataModule
from scale_pl.data.rollout import Rollout, RolloutCollector, stack_observations

__all__ = ["Rollout", "RolloutCollector", "RolloutDataModule", "stack_observations"]
