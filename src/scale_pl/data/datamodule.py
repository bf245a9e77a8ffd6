"""`RolloutDataModule`: owns the simulator, streams one PPO rollout per batch, fixed validation workloads."""

from __future__ import annotations

import os
from collections.abc import Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from scale_pl.baselines import make_heuristic
from scale_pl.data.rollout import Rollout, RolloutCollector
from scale_pl.errors import ScaleError
from scale_pl.seeds import TEST_SEED_BASE, VAL_SEED_BASE
from scale_pl.sim.batched.batch import WorkloadBatch, workload_batch
from scale_pl.sim.batched.env import INFORMATION_MODES
from scale_pl.sim.generators.config import load_cluster_spec, load_generator, read_workload_config, read_yaml
from scale_pl.sim.system.observation import node_feature_dim, server_feature_dim, system_feature_dim, task_feature_dim


class RolloutDataset(IterableDataset):
    """``rollouts_per_epoch`` rollouts, each collected with the live policy when it is asked for.

    Sized, so Lightning knows the epoch length and does not prefetch a batch with a stale policy.
    """

    def __init__(self, datamodule: RolloutDataModule) -> None:
        self.datamodule = datamodule

    def __len__(self) -> int:
        return self.datamodule.rollouts_per_epoch

    def __iter__(self) -> Iterator[Rollout]:
        for i in range(len(self)):
            yield self.datamodule.collect(i)


class ValidationDataset(IterableDataset):
    """One item per validation cluster size: ``(N, WorkloadBatch of the validation seeds)``."""

    def __init__(self, batches: dict[int, WorkloadBatch]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[int, WorkloadBatch]]:
        yield from self.batches.items()


class RolloutDataModule(L.LightningDataModule):
    """The simulator side of training.

    Args:
        workload_config: workload YAML (catalogue, pattern mix, rho).
        cluster_config: cluster YAML (classes, mix, network).
        train_sizes: cluster sizes N to train on; several = multi-scale (each environment draws one).
        num_envs: environments per rollout.
        rollout_steps: decisions per environment per rollout.
        rollouts_per_epoch: rollouts (= optimizer phases) per epoch.
        workflows_per_episode: workflows in each training workload; None (the default) =
            ``train_workflows_per_server x N``, the shape of the validation and test workloads.
        train_workflows_per_server: workflows per server of a training workload (when
            ``workflows_per_episode`` is None): the load of the test workloads.
        warmup: heuristic that places the first ``warmup_fraction`` of each training workload's
            tasks, so that the policy starts in the steady state (None = no warm-up).
        warmup_fraction: share of a training workload's tasks placed by ``warmup``.
        decisions_per_server: the policy's decisions per training episode, per server, after which
            the episode is truncated and bootstrapped (None = every episode runs to its end). The
            same share of an episode at every N: decisions come N times as often.
        cache_warmup: simulate each training workload's warm-up once and restart every episode on it
            from that saved state (the default; the warm-up heuristic is deterministic), instead of
            simulating the warm-up again in every episode.
        pool_size: training workloads generated at setup; finished episodes restart on a random one.
        val_sizes: cluster sizes N validated (zero-shot beyond the training N).
        val_seeds: validation workloads per N.
        val_workflows_per_server: workflows per validation workload = this x N.
        val_workload_config: workload YAML of the validation (and ``test`` stage) workloads; None =
            ``workload_config``. Its catalogue must be the training one (the policy's feature
            dimensions). Use it to choose the checkpoint on the workloads the policy will be tested
            on while training on a wider mix (conf/workload/diverse.yaml).
        rho: offered load (default: the workload config's).
        reward_scale: return x reward_scale = minus the sum of response times.
        time_scale: seconds mapped to 1 in the log-scaled time features.
        information: what the scheduler knows of the servers' queues, ``expected`` (the default:
            unfinished tasks take their expected duration) or ``exact_queue`` (optimistic; for comparison).
        seed: base seed of the training pool, the environments' draws and the action sampling;
            each DDP rank adds 1000 x rank. None (the default) = the run's ``seed_everything``,
            so that training seeds differ in data and sampling, not only in initial weights.
    """

    def __init__(
        self,
        workload_config: str = "conf/workload/default.yaml",
        cluster_config: str = "conf/cluster/default.yaml",
        train_sizes: list[int] | int = 16,
        num_envs: int = 256,
        rollout_steps: int = 64,
        rollouts_per_epoch: int = 10,
        workflows_per_episode: int | None = None,
        train_workflows_per_server: int = 4,
        warmup: str | None = "eft",
        warmup_fraction: float = 0.25,
        decisions_per_server: int | None = 16,
        cache_warmup: bool = True,
        pool_size: int = 512,
        val_sizes: list[int] | None = None,
        val_seeds: int = 8,
        val_workflows_per_server: int = 4,
        val_workload_config: str | None = None,
        rho: float | None = None,
        reward_scale: float = 10.0,
        time_scale: float = 2.0,
        information: str = "expected",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.train_sizes = [train_sizes] if isinstance(train_sizes, int) else list(train_sizes)
        self.val_sizes = list(val_sizes) if val_sizes is not None else [self.train_sizes[0], 32, 48]
        for name, values in (("train_sizes", self.train_sizes), ("val_sizes", self.val_sizes)):
            if not values or any(n < 1 for n in values):
                raise ScaleError(f"data.{name}: every N must be >= 1, got {values}")
        counts = {
            "num_envs": num_envs,
            "rollout_steps": rollout_steps,
            "rollouts_per_epoch": rollouts_per_epoch,
            "workflows_per_episode": 1 if workflows_per_episode is None else workflows_per_episode,
            "train_workflows_per_server": train_workflows_per_server,
            "pool_size": pool_size,
            "val_seeds": val_seeds,
            "val_workflows_per_server": val_workflows_per_server,
        }
        for name, value in counts.items():
            if value < 1:
                raise ScaleError(f"data.{name} must be >= 1, got {value}")
        if warmup is not None:
            make_heuristic(warmup)  # a clear error for an unknown name, before any work
        if not 0 <= warmup_fraction < 1:
            raise ScaleError(f"data.warmup_fraction must be in [0, 1), got {warmup_fraction}")
        if decisions_per_server is not None and decisions_per_server < 1:
            raise ScaleError(f"data.decisions_per_server must be >= 1 (or null), got {decisions_per_server}")
        self.warmup, self.warmup_fraction, self.decisions_per_server = warmup, warmup_fraction, decisions_per_server
        self.cache_warmup = cache_warmup
        if rho is not None and not rho > 0:
            raise ScaleError(f"data.rho must be > 0, got {rho}")
        if reward_scale <= 0 or time_scale <= 0:
            raise ScaleError("data.reward_scale and data.time_scale must be > 0")
        if information not in INFORMATION_MODES:
            raise ScaleError(f"data.information must be one of {', '.join(INFORMATION_MODES)}, got {information!r}")
        self.information = information
        self.workload_config, self.cluster_config = workload_config, cluster_config
        self.val_workload_config = val_workload_config or workload_config
        self.num_envs, self.rollout_steps, self.rollouts_per_epoch = num_envs, rollout_steps, rollouts_per_epoch
        self.workflows_per_episode, self.pool_size = workflows_per_episode, pool_size
        self.train_workflows_per_server = train_workflows_per_server
        self.val_seeds, self.val_workflows_per_server = val_seeds, val_workflows_per_server
        self.rho, self.reward_scale, self.time_scale, self.seed = rho, reward_scale, time_scale, seed
        # Fail on a bad config now, before any work starts.
        self.generator = self._generator(self.episode_workflows(self.train_sizes[0]))
        self.spec = load_cluster_spec(cluster_config)
        for n in self.train_sizes:
            self.generator.arrival_rate(self.spec.make(n, self.generator.catalogue))
        val_generator = self._generator(self.val_workflows_per_server * self.val_sizes[0], self.val_workload_config)
        if val_generator.catalogue.primitives != self.generator.catalogue.primitives:
            raise ScaleError(
                f"data.val_workload_config: {self.val_workload_config} has another catalogue than "
                f"{workload_config} (validation must use the primitive types the policy is trained on)"
            )
        for n in self.val_sizes:
            val_generator.arrival_rate(self.spec.make(n, val_generator.catalogue))
        self.collector: RolloutCollector | None = None
        self.val_batches: dict[int, WorkloadBatch] = {}
        self.test_batches: dict[int, WorkloadBatch] = {}

    def episode_workflows(self, n: int) -> int:
        """Workflows in a training workload at cluster size ``n``."""
        if self.workflows_per_episode is not None:
            return self.workflows_per_episode
        return self.train_workflows_per_server * n

    def _generator(self, num_workflows: int, config: str | None = None):
        overrides = {"num_workflows": num_workflows} | ({} if self.rho is None else {"rho": self.rho})
        return load_generator(config or self.workload_config, **overrides)

    @property
    def env_kwargs(self) -> dict:
        return {"reward_scale": self.reward_scale, "time_scale": self.time_scale, "information": self.information}

    @property
    def base_seed(self) -> int:
        """``seed``, else the global seed Lightning's ``seed_everything`` set (0 without one)."""
        if self.seed is not None:
            return self.seed
        return int(os.environ.get("PL_GLOBAL_SEED", 0))

    @property
    def rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.collector is None:
            seed = self.base_seed + 1000 * self.rank
            rng = np.random.default_rng(seed)
            sizes = rng.choice(self.train_sizes, size=self.pool_size)
            pairs, generators = [], {}
            for i, n in enumerate(sizes):
                n = int(n)
                if n not in generators:
                    generators[n] = self._generator(self.episode_workflows(n))
                cluster = self.spec.make(n, self.generator.catalogue)
                pairs.append((generators[n].generate(cluster, seed * 100_003 + i), cluster))
            pool = WorkloadBatch.from_pairs(pairs)
            self.collector = RolloutCollector(
                pool, self.num_envs, self.rollout_steps, seed, warmup=self.warmup,
                warmup_fraction=self.warmup_fraction, decisions_per_server=self.decisions_per_server,
                cache_warmup=self.cache_warmup, **self.env_kwargs,
            )  # fmt: skip
        if stage in ("fit", "validate") and not self.val_batches:
            self.val_batches = self.evaluation_batches(VAL_SEED_BASE)
        if stage == "test" and not self.test_batches:
            self.test_batches = self.evaluation_batches(TEST_SEED_BASE)

    def evaluation_batches(self, seed_base: int) -> dict[int, WorkloadBatch]:
        """``val_seeds`` workloads per N of ``val_sizes``, seeded from ``seed_base`` (identical for every method)."""
        config = self.val_workload_config
        return {
            n: workload_batch(self._generator(self.val_workflows_per_server * n, config), self.spec, n,
                              range(seed_base + 1000 * n, seed_base + 1000 * n + self.val_seeds))
            for n in self.val_sizes
        }  # fmt: skip

    def collect(self, index_in_epoch: int = 0) -> Rollout:
        """The next rollout, acted by the module's teacher while it imitates (``SCALEModule.teacher``)."""
        module = self.trainer.lightning_module
        rollout = self.trainer.current_epoch * self.rollouts_per_epoch + index_in_epoch
        teacher = module.teacher(rollout) if hasattr(module, "teacher") else None
        return self.collector.collect(module.policy, teacher=teacher)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RolloutDataset(self), batch_size=None, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(ValidationDataset(self.val_batches), batch_size=None, num_workers=0)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(ValidationDataset(self.test_batches), batch_size=None, num_workers=0)

    # Dimensions the policy must agree with (linked into the model config by the CLI).
    @staticmethod
    def task_dim(workload_config: str) -> int:
        return task_feature_dim(len(read_workload_config(workload_config)["catalogue"]))

    @staticmethod
    def node_dim(workload_config: str) -> int:
        return node_feature_dim(len(read_workload_config(workload_config)["catalogue"]))

    @staticmethod
    def server_dim(cluster_config: str) -> int:
        return server_feature_dim(len(read_yaml(cluster_config)["classes"]))

    @staticmethod
    def system_dim(cluster_config: str) -> int:
        return system_feature_dim(len(read_yaml(cluster_config)["classes"]))

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        if isinstance(batch, tuple) and isinstance(batch[1], WorkloadBatch):
            return batch[0], batch[1].to(device)
        return batch  # rollouts are collected on the module's device already
