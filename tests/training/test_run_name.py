"""The MLflow run of a fit is named after what it is (config, encoder, SRR, seed), not random words."""

from __future__ import annotations

from pathlib import Path

import pytest

from scale_pl.algos.module import SCALEModule
from scale_pl.cli import SCALECLI, MLflowSaveConfig
from scale_pl.data.datamodule import RolloutDataModule
from tests.training.fitting import CONF, TINY


def logger_of(tmp_path: Path, monkeypatch, *args: str):
    """The MLFlowLogger the CLI builds for ``args`` (classes instantiated, nothing run or logged)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    cli = SCALECLI(
        SCALEModule,
        RolloutDataModule,
        args=[*args, *TINY],
        run=False,
        parser_kwargs={"parser_mode": "omegaconf"},
        save_config_callback=MLflowSaveConfig,
        save_config_kwargs={"save_to_log_dir": False, "overwrite": True},
        auto_configure_optimizers=False,
    )
    return cli.trainer.logger


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--config", str(CONF / "scale.yaml"), "--seed_everything", "3"], "scale-gin-srr-s3"),
        (["--config", str(CONF / "scale_no_srr.yaml")], "scale_no_srr-gin-nosrr-s0"),
        (
            [
                "--config",
                str(CONF / "quickstart.yaml"),
                "--model.policy.init_args.dag_encoder",
                str(CONF / "encoder" / "gcn.yaml"),
                "--seed_everything",
                "12",
            ],
            "quickstart-gcn-srr-s12",
        ),
    ],
)
def test_run_name_says_config_encoder_srr_and_seed(args: list[str], name: str, tmp_path: Path, monkeypatch) -> None:
    assert logger_of(tmp_path, monkeypatch, *args)._run_name == name


def test_an_explicit_run_name_wins(tmp_path: Path, monkeypatch) -> None:
    args = ["--config", str(CONF / "scale.yaml"), "--trainer.logger.init_args.run_name", "mine"]
    assert logger_of(tmp_path, monkeypatch, *args)._run_name == "mine"


def test_several_config_files_are_joined_in_the_name(tmp_path: Path, monkeypatch) -> None:
    extra = tmp_path / "longer.yaml"
    extra.write_text("seed_everything: 5\ntrainer:\n  max_epochs: 3\n")
    args = ["--config", str(CONF / "quickstart.yaml"), "--config", str(extra)]
    assert logger_of(tmp_path, monkeypatch, *args)._run_name == "quickstart+longer-gin-srr-s5"
