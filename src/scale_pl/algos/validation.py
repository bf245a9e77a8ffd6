"""Validation and test of the policy at several cluster sizes, and the checkpoint-selection figure."""

from __future__ import annotations

import torch

from scale_pl.baselines import make_heuristic
from scale_pl.evaluation.metrics import ResponseTimeStats
from scale_pl.losses.srr import feature_stats
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode


class ValidationAcrossSizes:
    """The validation and test hooks of :class:`~scale_pl.algos.module.SCALEModule`.

    Each batch is one cluster size's workloads; the greedy policy runs on them and EFT once
    (the reference). At the end of a validation epoch the ratio of ART to EFT's per size gives
    ``val/worst_ratio`` and its mean over the last validations ``val/select``
    (:class:`~scale_pl.algos.selection.SizeAwareSelection`), which the checkpoint monitors;
    ``val/select_trained_sizes`` is the same figure over the validation sizes up to the largest
    training size only (the strict zero-shot rule, for comparison). The host module provides
    ``policy``, ``val_stats`` (a ``ModuleDict``), ``selection``, ``selection_trained``,
    ``reference_policies``, ``_eft_art`` and ``_references_logged``.
    """

    def validation_step(self, batch: tuple[int, WorkloadBatch], batch_idx: int) -> None:
        self._evaluate_size(batch, "val")

    def test_step(self, batch: tuple[int, WorkloadBatch], batch_idx: int) -> None:
        self._evaluate_size(batch, "test")

    def on_validation_epoch_end(self) -> None:
        arts = self._log_stats("val")
        if self.trainer.sanity_checking or not arts:
            return
        ratios = {n: art / self._eft_art[("val", n)] for n, art in arts.items()}
        for n, ratio in ratios.items():
            self.log(f"val/N{n}/ratio_eft", ratio, batch_size=1)
        for name, value in self.selection.update(ratios).items():
            self.log(f"val/{name}", value, prog_bar=(name == "select"), batch_size=1)
        # The strict zero-shot rule, kept for comparison: the same figure over the trained sizes only.
        trained = {n: r for n, r in ratios.items() if n <= self._largest_training_size()}
        if trained:
            self.log("val/select_trained_sizes", self.selection_trained.update(trained)["select"], batch_size=1)

    def on_test_epoch_end(self) -> None:
        self._log_stats("test")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["selection"] = self.selection.state_dict()
        checkpoint["selection_trained"] = self.selection_trained.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        for key in ("selection", "selection_trained"):
            if key in checkpoint:
                getattr(self, key).load_state_dict(checkpoint[key])

    def _largest_training_size(self) -> int:
        dm = getattr(self.trainer, "datamodule", None)
        return max(getattr(dm, "train_sizes", [0]))

    def _evaluate_size(self, batch: tuple[int, WorkloadBatch], phase: str) -> None:
        """The greedy policy on every workload of one cluster size.

        Logs z's statistics, feeds the ART statistics (``{phase}/N{n}/art``, p95, p99,
        slowdown, logged at the epoch's end), and runs EFT once per size: the reference of the
        checkpoint choice (:class:`~scale_pl.algos.selection.SizeAwareSelection`). The other
        reference heuristics run once too, for the record."""
        n, workloads = batch
        env_kwargs = self._env_kwargs()
        env = SchedulingEnv(workloads, **env_kwargs)
        obs, zs = env.observe(), []
        while not bool(env.done.all()):
            out = self.policy(obs)
            zs.append(out.z[~obs.done])
            obs, _, _ = env.step(self.policy.greedy(obs, out.logits))  # ties as every greedy run breaks them
        key = f"{phase}_N{n}"
        if key not in self.val_stats:
            self.val_stats[key] = ResponseTimeStats().to(self.device)
        self.val_stats[key].update(env.response_times(), env.response_times() / env.critical_path)
        for name, value in feature_stats(torch.cat(zs)).items():
            self.log(f"{phase}/N{n}/z_{name}", value, on_epoch=True, batch_size=1)
        if (phase, n) not in self._eft_art:
            self._eft_art[(phase, n)] = self._reference_art(workloads, "eft")
        if self.trainer.sanity_checking or key in self._references_logged:
            return
        self._references_logged.add(key)
        for name in self.reference_policies:
            art = self._eft_art[(phase, n)] if name == "eft" else self._reference_art(workloads, name)
            self.log(f"{phase}/N{n}/{name}_art", art, on_epoch=True, batch_size=1)

    def _reference_art(self, workloads: WorkloadBatch, name: str) -> float:
        ref = SchedulingEnv(workloads, **self._env_kwargs())
        run_episode(ref, make_heuristic(name))
        return float(ref.metrics()["art"].mean())

    def _log_stats(self, phase: str) -> dict[int, float]:
        """Log each size's ART statistics of the epoch; returns the ART per N."""
        arts = {}
        for key, metric in self.val_stats.items():
            if not key.startswith(phase) or not metric.update_called:
                continue
            n = int(key.split("_N")[1])
            for name, value in metric.compute().items():
                self.log(f"{phase}/N{n}/{name}", value.float(), prog_bar=(name == "art"), sync_dist=False)
                if name == "art":
                    arts[n] = float(value)
            metric.reset()
        return arts

    def _env_kwargs(self) -> dict:
        dm = getattr(self.trainer, "datamodule", None)
        return dm.env_kwargs if dm is not None else {}
