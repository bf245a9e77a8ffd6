"""``--policy``: heuristic names, training checkpoints (good and bad), unknown names."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import pytest
import torch

from scale_pl.baselines import HEURISTICS, EarliestFinishTime, RandomPolicy
from scale_pl.errors import ScaleError
from scale_pl.io.policy_loader import Anchor, load_policy
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


SHIPPED = Path(__file__).resolve().parents[2] / "pretrained" / "scale_s2.ckpt"


def test_anchor_syntax():
    from scale_pl.io.policy_loader import ANCHOR_PRIORS
    from scale_pl.models import PRIORS

    assert ANCHOR_PRIORS == PRIORS  # the loader names them without importing torch
    assert Anchor.parse("eft") == Anchor("eft", 3.0, None)
    assert Anchor.parse("rank_eft:1.5") == Anchor("rank_eft", 1.5, None)
    assert Anchor.parse("eft:3:10") == Anchor("eft", 3.0, 10.0)
    assert Anchor.parse("none:1:inf") == Anchor("none", 1.0, math.inf)
    assert Anchor.parse("eft:3:10:1.5") == Anchor("eft", 3.0, 10.0, 1.5)
    assert Anchor.parse("eft:3::2") == Anchor("eft", 3.0, None, 2.0)  # an empty CLIP keeps the checkpoint's
    assert Anchor.parse("eft:3:::30") == Anchor("eft", 3.0, None, None, 30.0)  # an empty SHIELD is none
    assert Anchor.parse("eft:3:2:1.5:0") == Anchor("eft", 3.0, 2.0, 1.5, 0.0)
    for text, message in [("heft", "PRIOR one of none, eft, rank_eft"), ("eft:1:2:3:4:5", "PRIOR"),
                          ("eft:x", "must be numbers"), ("eft:0", "KAPPA must be"), ("eft:inf", "KAPPA must be"),
                          ("eft:3:-1", "CLIP must be >= 0"), ("eft::2", "must be numbers"),
                          ("eft:3:2:0.9", "SHIELD must be"), ("eft:3:2:inf", "SHIELD must be"),
                          ("eft:3:2::-1", "DELAY must be"), ("eft:3:2::inf", "DELAY must be"),
                          ("eft:3:2::x", "must be numbers")]:  # fmt: skip
        with pytest.raises(ScaleError, match=message):
            Anchor.parse(text)


def test_a_shipped_checkpoint_anchored_on_load_gives_the_post_hoc_logits(generator):
    """Issue 18's post-hoc anchor: -kappa log(EFT_i / EFT_best) + c * logits_i / 10, on a real observation."""
    from scale_pl.sim.generators.config import load_cluster_spec

    cluster = load_cluster_spec().make(16, generator.catalogue)
    env = SchedulingEnv(WorkloadBatch.from_pairs([(generator.generate(cluster, s), cluster) for s in (0, 1, 2)]))
    for _ in range(40):  # a few decisions in, so that the servers' finish times differ
        obs, _, _ = env.step(EarliestFinishTime()(env.observe()))
    shipped = load_policy(str(SHIPPED))
    assert shipped.policy.prior is None and shipped.policy.decoder.tanh_clip == 10.0  # as trained
    with torch.no_grad():
        logits = shipped.policy(obs).logits
    eft = obs.est_finish.masked_fill(~obs.mask, math.inf)
    log_ratio = torch.log(eft / eft.amin(-1, keepdim=True))
    for spec, kappa, c in [("eft:3:10", 3.0, 10.0), ("eft:3", 3.0, 10.0), ("eft:10:1", 10.0, 1.0)]:
        anchored = load_policy(f"{SHIPPED}@{spec}")
        with torch.no_grad():
            got = anchored.policy(obs).logits
        want = -kappa * log_ratio + c * logits / 10
        torch.testing.assert_close(got[obs.mask], want[obs.mask].float(), rtol=1e-5, atol=1e-5)
        assert torch.isneginf(got[~obs.mask]).all()
    shielded = load_policy(f"{SHIPPED}@eft:3:10:1.5").policy
    with torch.no_grad():
        got = shielded(obs).logits
    admitted = obs.mask & (eft <= 1.5 * eft.amin(-1, keepdim=True))
    assert shielded.prior.shield == 1.5 and (admitted < obs.mask).any()
    assert torch.equal(torch.isfinite(got), admitted)
    only_shield = load_policy(f"{SHIPPED}@none:1::1.5").policy  # a shield alone: no prior score, c kept
    assert only_shield.decoder.tanh_clip == 10.0 and torch.equal(only_shield.allowed_servers(obs), admitted)
    delayed = load_policy(f"{SHIPPED}@eft:3:::0.5").policy  # believed finish within 0.5 s of the earliest
    assert delayed.prior.shield is None and delayed.prior.delay_shield == 0.5 and delayed.decoder.tanh_clip == 10.0
    within = obs.mask & (eft <= eft.amin(-1, keepdim=True) + 0.5)
    assert (within < obs.mask).any() and (within > admitted).any()  # it removes servers, not those 1.5x removes
    with torch.no_grad():
        assert torch.equal(torch.isfinite(delayed(obs).logits), within)
    unbounded = load_policy(f"{SHIPPED}@none:1:inf").policy
    assert unbounded.prior is None and unbounded.decoder.tanh_clip == 0.0
    with pytest.raises(ScaleError, match="KAPPA must be"):
        load_policy(f"{SHIPPED}@eft:-1")
    with pytest.raises(ScaleError, match="unknown policy"):
        load_policy(f"{SHIPPED}@heft")


def test_checkpoints_joined_by_plus_are_one_voting_policy(tmp_path):
    from scale_pl.models import PolicyEnsemble

    shipped = SHIPPED.parent
    pair = load_policy(f"{shipped}/scale_s0.ckpt+{shipped}/scale_s2.ckpt")
    assert isinstance(pair, GreedyPolicy) and isinstance(pair.policy, PolicyEnsemble)
    assert len(pair.policy.members) == 2
    globbed = load_policy(f"{shipped}/scale_s[02].ckpt+")  # a trailing "+": every file of the glob
    for mine, theirs in zip(globbed.policy.members, pair.policy.members, strict=True):
        mine, theirs = mine.state_dict(), theirs.state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert len(load_policy(f"{shipped}/scale_s[2].ckpt+").policy.members) == 1  # a glob of one file
    anchored = load_policy(f"{shipped}/scale_s0.ckpt+{shipped}/scale_s2.ckpt@eft:3:10")
    assert all(m.prior is not None and m.decoder.tanh_clip == 10.0 for m in anchored.policy.members)
    for spec, message in [(f"{shipped}/scale_s0.ckpt+{tmp_path}/gone.ckpt", "gone.ckpt: no such checkpoint file"),
                          (f"{shipped}/scale_s0.ckpt+{tmp_path}/x_*.ckpt", "matches no file"),
                          (f"{shipped}/scale_s0.ckpt++{shipped}/scale_s2.ckpt", "an empty member"),
                          (f"{shipped}/scale_s0.ckpt+eft", "'eft': not a checkpoint file")]:  # fmt: skip
        with pytest.raises(ScaleError, match=message):
            load_policy(spec)
