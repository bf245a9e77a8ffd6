"""LightningCLI entry: ``python -m scale_pl fit|validate|test --config conf/....yaml``.

Dimensions that must agree between the simulator and the policy (feature sizes) are linked
from the data config, so swapping the encoder or the workload never needs them repeated.
The resolved config goes to the MLflow run (params + ``config.yaml`` artifact), not to a log_dir.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import yaml
from jsonargparse import Namespace
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import MLFlowLogger

from scale_pl.algos.module import SCALEModule
from scale_pl.data.datamodule import RolloutDataModule
from scale_pl.errors import ScaleError
from scale_pl.tracking import EXPERIMENT, artifact_location, git_commit, prepare_store, tracking_uri


class RunCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` that writes to ``checkpoints/<MLflow run id>/`` unless ``dirpath`` is given,
    saves on exceptions and Ctrl-C, and keeps ``last.ckpt``."""

    def __init__(self, *args, save_last: bool = True, save_on_exception: bool = True, **kwargs) -> None:
        super().__init__(*args, save_last=save_last, save_on_exception=save_on_exception, **kwargs)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.dirpath is None:
            run = getattr(trainer.logger, "run_id", None) if trainer.is_global_zero else None
            run = trainer.strategy.broadcast(run)
            self.dirpath = str(Path(trainer.default_root_dir) / "checkpoints" / (run or "run"))
        super().setup(trainer, pl_module, stage)

    def _find_last_checkpoints(self, trainer: Trainer) -> set[str]:
        """``--ckpt_path last``: the ``last.ckpt`` files of earlier runs (Lightning resumes the newest).

        Lightning resolves "last" before ``setup``, when ``dirpath`` (this run's folder) is not known yet.
        """
        if self.dirpath is not None:
            return super()._find_last_checkpoints(trainer)
        return {str(p) for p in (Path(trainer.default_root_dir) / "checkpoints").glob("*/last.ckpt")}

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Ctrl-C or a crash refreshes ``last.ckpt`` only: ``best.ckpt`` keeps the best validated weights."""
        if self._should_save_on_exception(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """``last.ckpt`` after every validation, not only when ``best.ckpt`` improved.

        Lightning 2.6 writes ``last`` only at a step where a top-k checkpoint was saved, which makes
        ``last.ckpt`` a copy of ``best.ckpt`` and ``--ckpt_path last`` resume from the best weights.
        """
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """As :meth:`on_validation_end` when Lightning saves at the end of the training epoch instead."""
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """``last.ckpt`` holds the final weights, also when the last epoch had no validation."""
        super().on_train_end(trainer, pl_module)
        self._refresh_last(trainer)

    def _refresh_last(self, trainer: Trainer) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class MLflowSaveConfig(SaveConfigCallback):
    """Logs the resolved config to the MLflow run: flattened params, ``config.yaml`` and tags."""

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        logger = trainer.logger
        if not isinstance(logger, MLFlowLogger) or not trainer.is_global_zero:
            return
        text = self.parser.dump(self.config, skip_none=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.yaml"
            path.write_text(text)
            logger.experiment.log_artifact(logger.run_id, str(path))
        params = _flatten(yaml.safe_load(text))
        logger.log_hyperparams({k: str(v)[:500] for k, v in params.items()})
        facts = run_facts(self.config)
        for key, value in {
            "git_commit": git_commit(),
            "encoder": facts["encoder"],
            "srr": facts["srr"],
            "train_sizes": ",".join(str(n) for n in pl_module.trainer.datamodule.train_sizes),
            "seed": facts["seed"],
            "config": ",".join(facts["configs"]) or "-",
        }.items():
            logger.experiment.set_tag(logger.run_id, key, value)


def run_facts(cfg: Namespace) -> dict:
    """What a run is, from its parsed config: the encoder class, SRR on/off, the seed and the config files' stems."""
    encoder = cfg.model.policy.init_args.dag_encoder.class_path.rsplit(".", 1)[-1]
    srr = cfg.model.srr
    srr_on = srr is not None and any(
        float(srr.init_args.get(k, 0) or 0) > 0 for k in ("decorrelation_weight", "kl_weight")
    )
    configs = [Path(str(c)).stem for c in (cfg.get("config") or [])]
    return {"encoder": encoder, "srr": "on" if srr_on else "off", "seed": str(cfg.get("seed_everything")),
            "configs": configs}  # fmt: skip


def run_name(cfg: Namespace) -> str:
    """The MLflow run name of a fit: ``{config stem}-{encoder}-{srr|nosrr}-s{seed}``, such as
    ``scale-gin-srr-s3`` (several config files: their stems joined by ``+``; none: ``run``)."""
    facts = run_facts(cfg)
    encoder = facts["encoder"].lower().removesuffix("encoder") or facts["encoder"].lower()
    srr = "srr" if facts["srr"] == "on" else "nosrr"
    return f"{'+'.join(facts['configs']) or 'run'}-{encoder}-{srr}-s{facts['seed']}"


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


class SCALECLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.workload_config", "model.policy.init_args.task_dim",
                              compute_fn=RolloutDataModule.task_dim)  # fmt: skip
        parser.link_arguments("data.workload_config", "model.policy.init_args.dag_encoder.init_args.in_dim",
                              compute_fn=RolloutDataModule.node_dim)  # fmt: skip
        parser.link_arguments("data.cluster_config", "model.policy.init_args.server_dim",
                              compute_fn=RolloutDataModule.server_dim)  # fmt: skip
        parser.link_arguments("data.cluster_config", "model.policy.init_args.system_dim",
                              compute_fn=RolloutDataModule.system_dim)  # fmt: skip
        parser.set_defaults(
            {
                "trainer.logger": {
                    "class_path": "lightning.pytorch.loggers.MLFlowLogger",
                    "init_args": {
                        "experiment_name": EXPERIMENT,
                        "tracking_uri": tracking_uri(),
                        "artifact_location": artifact_location(tracking_uri()),
                        "log_model": True,
                    },
                },
                "trainer.num_sanity_val_steps": 0,
            }
        )

    def instantiate_classes(self) -> None:
        """A class that refuses its arguments (a bad prior kind, a negative kappa) is a config error:
        one line naming the problem, not jsonargparse's traceback of every Union subtype it tried."""
        try:
            super().instantiate_classes()
        except (ValueError, TypeError) as exc:
            raise ScaleError(f"config: {root_cause(exc)}") from None

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        logger = config.trainer.logger
        is_mlflow = isinstance(logger, Namespace) and "MLFlowLogger" in str(logger.get("class_path", ""))
        if is_mlflow and not logger.init_args.get("tracking_uri"):
            # MLFlowLogger would fall back to the `file:` store, which MLflow 3 refuses.
            logger.init_args.tracking_uri = tracking_uri()
        if is_mlflow and not logger.init_args.get("run_name"):
            logger.init_args.run_name = run_name(config)  # instead of MLflow's random words
        if is_mlflow:  # before the logger is built: parallel runs on a new mlflow.db would race there
            args = logger.init_args
            prepare_store(args.tracking_uri, args.get("experiment_name"), args.get("artifact_location"))
        if config.trainer.get("enable_checkpointing") is not False and not _has_checkpoint(config.trainer.callbacks):
            # Lightning's default ModelCheckpoint would write to ./<experiment id>/<run id>/ under MLflow.
            callbacks = list(config.trainer.callbacks or [])
            callbacks.append(Namespace(class_path="scale_pl.cli.RunCheckpoint", init_args=Namespace()))
            config.trainer.callbacks = callbacks


def root_cause(exc: BaseException) -> str:
    """The first line of the innermost exception that ``exc`` was raised from."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _has_checkpoint(callbacks) -> bool:
    for callback in callbacks or []:
        path = str(callback.get("class_path", "")) if isinstance(callback, Namespace) else type(callback).__name__
        if "Checkpoint" in path:
            return True
    return False


def run_lightning_cli(argv: list[str]) -> int:
    """Run the LightningCLI; configuration errors become one line on stderr and exit code 2."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            SCALECLI(
                SCALEModule,
                RolloutDataModule,
                args=argv,
                parser_kwargs={"parser_mode": "omegaconf", "exit_on_error": False},
                save_config_callback=MLflowSaveConfig,
                save_config_kwargs={"save_to_log_dir": False, "overwrite": True},
                auto_configure_optimizers=False,
            )
    except ScaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except argparse.ArgumentError as exc:  # jsonargparse's, raised instead of usage + exit (exit_on_error=False)
        command = argv[0] if argv else "fit"
        print(f"error: {_one_line(exc)} (see `python -m scale_pl {command} --help`)", file=sys.stderr)
        return 2
    return 0


def _one_line(exc: argparse.ArgumentError) -> str:
    """jsonargparse's nested message (``Parser key "a":`` / ``Problem with given class_path`` / details) in one line."""
    keys, details = [], []
    for line in str(exc).splitlines():
        line = line.strip().removeprefix("- ").strip()
        if match := re.match(r'Parser key "([^"]+)":\s*(.*)', line):
            keys.append(match.group(1))
            line = match.group(2)
        if line and not line.endswith(":") and not line.startswith("Problem with given class_path"):
            details.append(line)
    return f"{'.'.join(keys)}: {'; '.join(details)}" if keys else "; ".join(details) or str(exc)
