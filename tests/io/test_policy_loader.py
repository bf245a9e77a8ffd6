"""``--policy``: heuristic names, training checkpoints (good and bad), unknown names."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

from scale_pl.baselines import HEURISTICS, EarliestFinishTime, RandomPolicy
from scale_pl.errors import ScaleError
from scale_pl.io.policy_loader import load_policy
from scale_pl.models.policy import GreedyPolicy
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_heuristics_by_name():
    assert isinstance(load_policy("eft"), EarliestFinishTime)
    assert load_policy("random", seed=5).seed == 5
    assert isinstance(load_policy("random"), RandomPolicy)
    for name in HEURISTICS:
        load_policy(name)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained module saved as ``fit`` saves it: built by the training CLI, written by its Trainer.

    Returns the checkpoint path and the module's policy.
    """
    from scale_pl.algos.module import SCALEModule
    from scale_pl.cli import SCALECLI
    from scale_pl.data.datamodule import RolloutDataModule

    args = ["--config", str(CONF / "quickstart.yaml"), "--trainer.logger", "false", "--trainer.callbacks", "[]",
            "--data.workload_config", str(CONF / "workload" / "default.yaml"),
            "--data.cluster_config", str(CONF / "cluster" / "default.yaml")]  # fmt: skip
    saved = os.environ.copy()  # seed_everything writes PL_GLOBAL_SEED
    try:
        with warnings.catch_warnings():  # "LightningCLI's args parameter ...": pytest's own argv is in sys.argv
            warnings.simplefilter("ignore")
            cli = SCALECLI(SCALEModule, RolloutDataModule, args=args, run=False, auto_configure_optimizers=False,
                           parser_kwargs={"parser_mode": "omegaconf"}, save_config_callback=None)  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
    path = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    cli.trainer.strategy.connect(cli.model)
    cli.trainer.save_checkpoint(path)
    return path, cli.model.policy


def test_checkpoint_gives_the_trained_policy(checkpoint, generator, small_cluster):
    path, trained = checkpoint
    policy = load_policy(str(path))
    assert isinstance(policy, GreedyPolicy)
    loaded = policy.policy.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in trained.state_dict().items())
    pairs = [(generator.generate(small_cluster, seed), small_cluster) for seed in (0, 1)]
    env = SchedulingEnv(WorkloadBatch.from_pairs(pairs))
    obs = env.observe()
    assert torch.equal(policy(obs), trained.select(obs))


def _bad_files(tmp: Path, good: Path) -> dict[str, str]:
    """name -> the error expected after the file name."""
    (tmp / "zero.ckpt").write_bytes(b"\0")
    torch.save([1, 2], tmp / "list.pt")
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1e-3}}, tmp / "no_policy.ckpt")
    state = torch.load(good, weights_only=True)
    state["hyper_parameters"]["policy"]["init_args"]["dag_encoder"]["class_path"] = "scale_pl.models.NopeEncoder"
    torch.save(state, tmp / "bad_class.ckpt")
    return {
        "zero.ckpt": "not a readable PyTorch checkpoint",
        "list.pt": "not a Lightning checkpoint (no state_dict)",
        "no_policy.ckpt": "the checkpoint holds no policy config",
        "bad_class.ckpt": "cannot rebuild the policy from this checkpoint (",
    }


def test_bad_checkpoints_give_one_line_naming_the_file(checkpoint, tmp_path):
    for name, message in _bad_files(tmp_path, checkpoint[0]).items():
        with pytest.raises(ScaleError) as info:
            load_policy(str(tmp_path / name))
        text = str(info.value)
        assert text.startswith(f"{tmp_path / name}: {message}") and "\n" not in text, text
    with pytest.raises(ScaleError, match=r"missing\.ckpt: no such checkpoint file"):
        load_policy(str(tmp_path / "missing.ckpt"))


def test_unknown_policy():
    with pytest.raises(ScaleError, match=r"unknown policy 'heft2' \(heuristics: random, round_robin"):
        load_policy("heft2")
