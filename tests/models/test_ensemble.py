"""PolicyEnsemble: several policies voting by their mean log-probabilities, ties as one policy's."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from scale_pl.models import GreedyPolicy, PolicyEnsemble
from scale_pl.models.decisions import TIE_TOLERANCE


class FixedScores(nn.Module):
    """A stand-in member: the same server scores for every observation (-inf = infeasible)."""

    tie_tolerance = TIE_TOLERANCE

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores = torch.tensor([scores])

    def allowed_servers(self, obs) -> torch.Tensor:
        return torch.isfinite(self.scores)

    def actor(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        return self.scores.clone(), torch.ones(1, 2) * float(self.scores.nan_to_num(neginf=0).sum())


def _choice(obs, *scores: list[float]) -> int:
    return int(GreedyPolicy(PolicyEnsemble([FixedScores(s) for s in scores]))(obs)[0])


def test_the_vote_by_hand(make_obs) -> None:
    obs = replace(make_obs(1, 3, 2, 3, feasible_prob=1.0), est_finish=torch.tensor([[5.0, 4.0, 3.0]]))
    assert _choice(obs, [2.0, 0.0, 0.0]) == 0  # one member: its own top server
    # log_softmax [2, 0, 0] = [-0.240, -2.240, -2.240]; of [0, 3, 0] = [-3.095, -0.095, -3.095];
    # mean [-1.667, -1.167, -2.667]: server 1, the second member being surer of it than the first of 0
    assert _choice(obs, [2.0, 0.0, 0.0], [0.0, 3.0, 0.0]) == 1
    assert _choice(obs, [2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [4.0, 0.0, 0.0]) == 0  # two of three outvote one
    # an exact tie between servers 0 and 1 goes to the lower believed finish (server 1: 4 < 5), never by index
    assert _choice(obs, [1.0, 0.0, -5.0], [0.0, 1.0, -5.0]) == 1
    # a server one member finds infeasible is never chosen, however much the others want it
    assert _choice(obs, [9.0, 0.0, 0.0], [-math.inf, 0.0, 1.0]) == 2


def test_the_ensemble_reports_mean_z_and_the_servers_every_member_allows(make_obs) -> None:
    obs = make_obs(1, 3, 2, 3, feasible_prob=1.0)
    ensemble = PolicyEnsemble([FixedScores([1.0, 2.0, -math.inf]), FixedScores([-math.inf, 2.0, 3.0])])
    assert ensemble.allowed_servers(obs).tolist() == [[False, True, False]]
    log_probs, z = ensemble.actor(obs)
    assert z.tolist() == [[4.0, 4.0]]  # the mean of 3 and 5
    assert torch.isneginf(log_probs[0, [0, 2]]).all() and log_probs[0, 1] == pytest.approx(
        (math.log(math.exp(2) / (math.e + math.exp(2))) + math.log(math.exp(2) / (math.exp(2) + math.exp(3)))) / 2
    )
    with pytest.raises(ValueError, match="at least one policy"):
        PolicyEnsemble([])


def test_an_ensemble_of_one_policy_twice_chooses_as_the_policy(make_obs, make_policy) -> None:
    policy = make_policy("gin", seed=3)
    for seed in range(4):
        obs = make_obs(8, 9, 14, 12, seed=seed)
        alone = GreedyPolicy(policy)(obs)
        assert torch.equal(GreedyPolicy(PolicyEnsemble([policy, policy]))(obs), alone)
        assert torch.equal(GreedyPolicy(PolicyEnsemble([policy]))(obs), alone)
