"""Every file under ``conf/`` instantiates: the training configs through the CLI parser (with each
encoder swapped in), the workload, cluster and WfFormat configs through their loaders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.loggers import MLFlowLogger

from scale_pl.algos.module import SCALEModule
from scale_pl.cli import SCALECLI, MLflowSaveConfig, RunCheckpoint
from scale_pl.data.datamodule import RolloutDataModule
from scale_pl.io.wfformat import load_mapping
from scale_pl.models import ENCODERS, HeuristicPrior
from scale_pl.models.encoders import GINEncoder
from scale_pl.sim.batched.batch import workload_batch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from scale_pl.sim.system.observation import node_feature_dim, server_feature_dim, task_feature_dim
from tests.training.fitting import CONF, REPO

TRAINING = {
    "quickstart.yaml": 0.01,
    "scale.yaml": 0.01,
    "scale_no_srr.yaml": 0.0,
    "scale_anchored.yaml": 0.01,
    "scale_robust.yaml": 0.01,
}
TRAINING_PARAMS = sorted(TRAINING)
ENCODER_CONFIGS = sorted(p.name for p in (CONF / "encoder").glob("*.yaml"))
NUM_TYPES, NUM_CLASSES = 6, 4  # conf/workload/default.yaml, conf/cluster/default.yaml
pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")  # pytest's own argv is in sys.argv


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    """One MLflow store for the module: creating a sqlite store takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def in_repo(tracking_uri, monkeypatch):
    """Run from the repository root, as a user does, with the MLflow store in a temporary folder."""
    saved = os.environ.copy()  # seed_everything writes PL_GLOBAL_SEED
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    yield
    os.environ.clear()
    os.environ.update(saved)


def instantiate(*args: str) -> SCALECLI:
    """The CLI of ``python -m scale_pl fit`` (same arguments as ``run_lightning_cli``), built but not run."""
    return SCALECLI(
        SCALEModule,
        RolloutDataModule,
        args=list(args),
        run=False,
        parser_kwargs={"parser_mode": "omegaconf"},
        save_config_callback=MLflowSaveConfig,
        save_config_kwargs={"save_to_log_dir": False, "overwrite": True},
        auto_configure_optimizers=False,
    )


def check_policy_fits_the_simulator(cli: SCALECLI) -> None:
    """The linked dimensions agree with the simulator: a real observation goes through the policy."""
    policy, dm = cli.model.policy, cli.datamodule
    assert policy.dag_encoder.in_dim == node_feature_dim(NUM_TYPES)
    assert (policy.task_dim, policy.server_dim) == (task_feature_dim(NUM_TYPES), server_feature_dim(NUM_CLASSES))
    env = SchedulingEnv(workload_batch(dm.generator, dm.spec, 8, [0, 1]), **dm.env_kwargs)
    obs = env.observe()
    with torch.no_grad():
        logits, value, z = policy(obs)
    assert logits.shape == (2, 8) and value.shape == (2,) and z.shape == (2, policy.embed_dim)
    assert torch.isfinite(logits[obs.mask]).all() and torch.isfinite(value).all()


@pytest.mark.parametrize("name", TRAINING_PARAMS)
def test_training_config_instantiates(name, in_repo):
    cli = instantiate("--config", f"conf/{name}")
    assert isinstance(cli.model, SCALEModule) and isinstance(cli.datamodule, RolloutDataModule)
    assert type(cli.model.policy.dag_encoder) is GINEncoder
    srr = cli.model.srr
    assert (srr.decorrelation_weight, srr.kl_weight) == (TRAINING[name], TRAINING[name])
    assert 16 in cli.datamodule.train_sizes and 16 in cli.datamodule.val_sizes
    checkpoints = {c.filename: c for c in cli.trainer.callbacks if isinstance(c, RunCheckpoint)}
    assert (checkpoints["best"].monitor, checkpoints["best"].mode) == ("val/select", "min")
    assert not set(cli.datamodule.val_sizes) & {32, 48, 96, 192, 256}  # never a test size
    if name != "quickstart.yaml":  # (the quickstart validates at N=16 only, for time)
        # chosen on the worst ratio to EFT over validation sizes beyond the training N ...
        assert max(cli.datamodule.val_sizes) > max(cli.datamodule.train_sizes)
        # ... and, for comparison, on the training N only
        assert checkpoints["best_zero_shot"].monitor == "val/select_trained_sizes"
    logger = cli.trainer.logger
    assert isinstance(logger, MLFlowLogger) and logger._tracking_uri == os.environ["MLFLOW_TRACKING_URI"]
    check_policy_fits_the_simulator(cli)


def test_no_srr_ablation_differs_only_in_srr():
    scale, ablation = (yaml.safe_load((CONF / name).read_text()) for name in ("scale.yaml", "scale_no_srr.yaml"))
    assert scale["model"].pop("srr") != ablation["model"].pop("srr")
    assert scale == ablation


def test_anchored_config_differs_only_in_the_prior(in_repo):
    scale, anchored = (yaml.safe_load((CONF / name).read_text()) for name in ("scale.yaml", "scale_anchored.yaml"))
    prior = anchored["model"]["policy"]["init_args"].pop("prior")
    assert scale == anchored
    assert prior["class_path"] == "scale_pl.models.HeuristicPrior"
    built = instantiate("--config", "conf/scale_anchored.yaml").model.policy.prior
    assert isinstance(built, HeuristicPrior) and (built.kind, built.kappa) == ("eft", 3.0)
    assert instantiate("--config", "conf/scale.yaml").model.policy.prior is None


@pytest.mark.parametrize("name", ENCODER_CONFIGS)
def test_encoder_config_swaps_into_the_training_config(name, in_repo):
    args = ["--model.policy.init_args.dag_encoder", f"conf/encoder/{name}"]
    cli = instantiate("--config", "conf/quickstart.yaml", *args)
    encoder = cli.model.policy.dag_encoder
    assert type(encoder) is ENCODERS[Path(name).stem]
    spec = yaml.safe_load((CONF / "encoder" / name).read_text())["init_args"]
    assert (encoder.hidden_dim, encoder.out_dim, encoder.num_layers) == (
        spec["hidden_dim"], spec["out_dim"], spec["num_layers"]
    )  # fmt: skip
    check_policy_fits_the_simulator(cli)


def test_workload_and_cluster_configs_load():
    generator = load_generator(CONF / "workload" / "default.yaml", num_workflows=5)
    assert len(generator.catalogue) == NUM_TYPES
    cluster = load_cluster_spec(CONF / "cluster" / "default.yaml").make(16, generator.catalogue)
    assert cluster.num_servers == 16 and len(cluster.classes) == NUM_CLASSES
    assert (cluster.speed > 0).any(axis=0).all()  # every task type runs somewhere
    workload = generator.generate(cluster, 0)
    assert len(workload.workflows) == 5


def test_pattern_shift_configs_split_the_patterns_over_the_same_catalogue():
    """patterns_seen (training) leaves out exactly the two patterns patterns_unseen (test) keeps."""
    default = load_generator(CONF / "workload" / "default.yaml")
    seen = load_generator(CONF / "workload" / "patterns_seen.yaml", num_workflows=40)
    unseen = load_generator(CONF / "workload" / "patterns_unseen.yaml", num_workflows=40)
    assert seen.catalogue.names == unseen.catalogue.names == default.catalogue.names  # same feature sizes
    cluster = load_cluster_spec(CONF / "cluster" / "default.yaml").make(16, default.catalogue)
    held_out = {"tree_of_thought", "map_reduce"}
    assert {w.pattern for w in unseen.generate(cluster, 0).workflows} == held_out
    assert not {w.pattern for w in seen.generate(cluster, 0).workflows} & held_out


def test_wfformat_config_loads():
    mapping = load_mapping(CONF / "wfformat" / "default.yaml")
    catalogue = load_generator(CONF / "workload" / "default.yaml").catalogue
    assert mapping.type_for("wget") == "tool_api" and mapping.type_for("blast") == mapping.default == "code_exec"
    assert {t for _, t in mapping.rules} | {mapping.default} <= set(catalogue.names)


def test_every_config_file_is_tested():
    tested = {*TRAINING, *(f"encoder/{n}" for n in ENCODER_CONFIGS)}
    tested |= {"workload/default.yaml", "cluster/default.yaml", "wfformat/default.yaml"}
    tested |= {"workload/patterns_seen.yaml", "workload/patterns_unseen.yaml"}
    tested |= {"workload/diverse.yaml"}  # tests/sim/test_structures.py
    tested |= {"workload/diverse_varied.yaml", "workload/diverse_varied_half.yaml"}  # tests/sim/test_varied.py
    assert {str(p.relative_to(CONF)) for p in CONF.rglob("*.y*ml")} == tested


def test_robust_config_differs_from_the_anchored_one_in_its_listed_switches(in_repo):
    anchored, robust = (
        yaml.safe_load((CONF / name).read_text()) for name in ("scale_anchored.yaml", "scale_robust.yaml")
    )
    policy = robust["model"]["policy"]["init_args"]
    assert policy.pop("critic_size_feature") is True
    assert policy["decoder"]["init_args"].pop("tanh_clip") == 2.0
    assert policy["prior"]["init_args"].pop("shield") is None  # the switch is listed, off
    anchored["model"]["policy"]["init_args"]["decoder"]["init_args"].pop("tanh_clip")
    assert robust["model"].pop("gae_lambda_horizon") == 30.0 and anchored["model"].pop("gae_lambda") == 0.95
    assert (robust["model"].pop("imitation_rollouts"), robust["model"].pop("imitation_teacher")) == (16, "rank_eft")
    assert (robust["model"].pop("ent_coef"), anchored["model"].pop("ent_coef")) == (0.0, 0.01)
    assert robust["data"].pop("workload_config") == "conf/workload/diverse.yaml"
    assert robust["data"].pop("train_sizes") == [8, 16, 24, 32, 48]
    for key in ("workload_config", "train_sizes"):
        anchored["data"].pop(key)
    assert robust == anchored
    built = instantiate("--config", "conf/scale_robust.yaml")
    assert built.model.policy.critic.size_feature and built.model.policy.prior.kind == "eft"
