"""Every conf/encoder/*.yaml selects its encoder through a jsonargparse ``class_path``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from jsonargparse import ArgumentParser

from scale_pl.models import ENCODERS, CrossAttentionPointer, DAGEncoder, SCALEPolicy

CONF = Path(__file__).resolve().parents[2] / "conf" / "encoder"
IN_DIM = 14  # node_feature_dim(6); the YAML files leave in_dim to the CLI's link


def test_every_encoder_has_a_config() -> None:
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(ENCODERS)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_config_instantiates_its_encoder(name: str, make_obs) -> None:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--encoder", type=DAGEncoder, sub_configs=True)
    cfg = parser.parse_args(["--encoder", str(CONF / f"{name}.yaml"), "--encoder.init_args.in_dim", str(IN_DIM)])
    encoder = parser.instantiate(cfg).encoder
    assert type(encoder) is ENCODERS[name]
    assert (encoder.in_dim, encoder.num_layers) == (IN_DIM, 2)
    obs = make_obs(2, 9, 12, 4)
    out = encoder.encode(obs.nodes, obs.node_mask, obs.edges, obs.edge_mask)
    assert out.shape == (2, 9, encoder.out_dim) and torch.isfinite(out).all()


def test_config_plugs_into_the_policy(make_obs) -> None:
    """As the training CLI will: ``--policy.dag_encoder conf/encoder/<name>.yaml``."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(SCALEPolicy, "policy", sub_configs=True)
    args = ["--policy.dag_encoder", str(CONF / "gatv2.yaml"), "--policy.dag_encoder.init_args.in_dim", str(IN_DIM)]
    args += ["--policy.decoder", "scale_pl.models.CrossAttentionPointer", "--policy.decoder.init_args.embed_dim", "32"]
    args += ["--policy.task_dim", "11", "--policy.server_dim", "12"]
    policy = parser.instantiate(parser.parse_args(args)).policy
    assert isinstance(policy.dag_encoder, ENCODERS["gatv2"]) and isinstance(policy.decoder, CrossAttentionPointer)
    logits, value, z = policy(make_obs(3, 7, 9, 16))
    assert logits.shape == (3, 16) and value.shape == (3,) and z.shape == (3, 32)
