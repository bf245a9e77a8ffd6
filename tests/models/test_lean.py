"""The lean greedy forward against the module: the same logits (to float rounding) and the same choice.

Observations come from the one-environment engine on generated workloads (idle servers of a
class give exactly tied rows, so ties are covered), plus the edge cases of the pointer.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from scale_pl.baselines import make_heuristic
from scale_pl.io.policy_loader import load_policy
from scale_pl.models.lean import LeanGreedy, one_environment_policy
from scale_pl.models.policy import GreedyPolicy, build_policy
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from scale_pl.sim.single.run import run_workload
from scale_pl.sim.system.observation import Observation

CHECKPOINT = Path(__file__).resolve().parents[2] / "pretrained" / "scale_s0.ckpt"


@pytest.fixture(scope="module")
def observations() -> list[Observation]:
    """Every observation of two generated workloads under EFT, at N=16 and N=64, features included."""
    out = []
    for n, workflows in ((16, 10), (64, 6)):
        generator = load_generator(num_workflows=workflows)
        cluster = load_cluster_spec().make(n, generator.catalogue)
        eft = make_heuristic("eft")

        def record(obs: Observation, eft=eft) -> torch.Tensor:
            out.append(obs)
            return eft(obs)

        run_workload(generator.generate(cluster, 3), cluster, record, features=True)
    return out


def module_logits(greedy: GreedyPolicy, obs: Observation) -> np.ndarray:
    with torch.no_grad():
        return greedy.policy.eval()(obs).logits[0].numpy()


def assert_same(lean: LeanGreedy, greedy: GreedyPolicy, observations: list[Observation]) -> None:
    for i, obs in enumerate(observations):
        mine, theirs = lean.logits(obs), module_logits(greedy, obs)
        assert np.array_equal(np.isfinite(mine), np.isfinite(theirs)), f"observation {i}: feasible set"
        finite = np.isfinite(theirs)
        np.testing.assert_allclose(mine[finite], theirs[finite], atol=1e-4, err_msg=f"observation {i}")
        assert int(lean(obs)[0]) == int(greedy(obs)[0]), f"observation {i}: another server"


def test_the_shipped_checkpoint_gives_the_same_logits_and_choices(observations):
    greedy = load_policy(str(CHECKPOINT))
    assert LeanGreedy.covers(greedy)
    ties = sum(int((logits == logits.max()).sum() > 1) for logits in (module_logits(greedy, o) for o in observations))
    assert ties > 0  # the exact ties among identical idle servers are part of what is checked
    assert_same(LeanGreedy(greedy), greedy, observations)


@pytest.mark.parametrize(
    ("encoder", "normalize", "aggregate", "tanh_clip"),
    [("gin", "centre", "mean", 10.0), ("gin", "none", "sum", 0.0), ("mlp", "cosine", "mean", 10.0),
     ("gin", "cosine", "sum", 5.0)],
)  # fmt: skip
def test_every_covered_configuration(observations, encoder, normalize, aggregate, tanh_clip):
    torch.manual_seed(7)
    policy = build_policy(6, 4, encoder=encoder, normalize=normalize, aggregate=aggregate, tanh_clip=tanh_clip)
    if policy.decoder.log_scale is not None:
        torch.nn.init.constant_(policy.decoder.log_scale, 0.7)  # a learned scale other than 1
    greedy = GreedyPolicy(policy)
    assert LeanGreedy.covers(greedy)
    assert_same(LeanGreedy(greedy), greedy, observations[::3])


def test_no_feasible_server_or_a_finished_environment_is_uniform(observations):
    greedy = load_policy(str(CHECKPOINT))
    lean = LeanGreedy(greedy)
    obs = observations[5]
    for odd in (replace(obs, mask=torch.zeros_like(obs.mask)), replace(obs, done=torch.tensor([True]))):
        assert np.array_equal(lean.logits(odd), module_logits(greedy, odd))
        assert (lean.logits(odd) == 0).all()


def test_what_it_does_not_cover_keeps_the_module():
    torch.manual_seed(0)
    plain = GreedyPolicy(build_policy(6, 4))
    assert LeanGreedy.covers(plain)
    uncovered = [
        GreedyPolicy(build_policy(6, 4, encoder="gatv2")),
        GreedyPolicy(build_policy(6, 4), record_features=True),  # it records z: the module computes it
    ]
    new_option = GreedyPolicy(build_policy(6, 4))
    new_option.policy.decoder.prior = "eft"  # an option this forward does not know of
    uncovered.append(new_option)
    for policy in uncovered:
        assert not LeanGreedy.covers(policy)
        assert one_environment_policy(policy) == (policy, True)
        with pytest.raises(ValueError, match="does not cover"):
            LeanGreedy(policy)
    lean, features = one_environment_policy(plain)
    assert isinstance(lean, LeanGreedy) and features
    heuristic = make_heuristic("rank_eft")
    assert one_environment_policy(heuristic) == (heuristic, False)  # raw fields only


class FixedPrior(torch.nn.Module):
    """A prior that favours the last servers: ``0.5 x index`` where allowed, 0 elsewhere."""

    def forward(self, obs: Observation, allowed: torch.Tensor) -> torch.Tensor:
        return torch.where(allowed, 0.5 * torch.arange(allowed.shape[1], dtype=torch.float32), 0.0)


def test_a_policy_s_prior_and_greedy_rule_are_used_where_it_has_them(observations, monkeypatch):
    """An anchored pointer (a ``prior`` module on the policy) and a policy's own greedy rule."""
    torch.manual_seed(3)
    greedy = GreedyPolicy(build_policy(6, 4))
    obs = observations[7]
    plain = LeanGreedy(greedy).logits(obs)
    greedy.policy.prior = FixedPrior()
    assert LeanGreedy.covers(greedy)
    anchored = LeanGreedy(greedy)
    allowed = obs.mask[0].numpy()
    added = anchored.logits(obs)[allowed] - plain[allowed]  # masked servers are -inf in both
    np.testing.assert_allclose(added, 0.5 * np.flatnonzero(allowed), rtol=1e-5)
    calls = []

    def lowest_believed_finish(self, obs, logits):
        calls.append(logits.shape)
        return obs.est_finish.argmin(-1)

    monkeypatch.setattr(type(greedy.policy), "greedy", lowest_believed_finish, raising=False)
    assert int(anchored(obs)[0]) == int(obs.est_finish.argmin()) and calls == [(1, obs.mask.shape[1])]


def test_a_shield_on_the_prior_narrows_the_lean_choice_as_it_does_the_module_s(observations):
    from scale_pl.models.priors import HeuristicPrior

    torch.manual_seed(4)
    greedy = GreedyPolicy(build_policy(6, 4, prior="eft", kappa=3.0, tanh_clip=2.0, shield=1.2))
    assert LeanGreedy.covers(greedy)
    lean = LeanGreedy(greedy)
    assert_same(lean, greedy, observations)
    narrowed = [obs for obs in observations if (greedy.policy.allowed_servers(obs) < obs.mask).any()]
    assert len(narrowed) > 10  # the shield removed servers in many of them
    shielded = [np.isfinite(lean.logits(obs)).sum() for obs in narrowed]
    greedy.policy.set_anchor(HeuristicPrior("eft", kappa=3.0))  # the same prior, no shield
    unshielded = [np.isfinite(lean.logits(obs)).sum() for obs in narrowed]
    assert all(u > s for u, s in zip(unshielded, shielded, strict=True))
