"""The greedy choice among tied scores, and the diagnostics of recorded greedy decisions."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from scale_pl.losses import feature_stats
from scale_pl.models import GreedyPolicy, greedy_choice
from scale_pl.models.decisions import DecisionRecord, normalised_entropy, tied_with_top

INF = math.inf


def test_ties_go_to_the_earliest_believed_finish_not_the_lowest_index() -> None:
    logits = torch.tensor([[10.0, 10.0, 9.9995, 5.0, -INF]])
    finish = torch.tensor([[3.0, 2.0, 1.0, 0.5, 0.1]], dtype=torch.float64)
    assert greedy_choice(logits, finish, 1e-3).item() == 2  # within 1e-3 of the top, finishes first
    assert greedy_choice(logits, finish, 0.0).item() == 1  # exact ties only
    assert greedy_choice(logits, finish, None).item() == 0  # plain argmax: the lowest index
    assert greedy_choice(logits, finish, 100.0).item() == 3  # everything feasible tied; never the -inf one


def test_equal_finishes_go_to_the_higher_exact_logit_then_the_lowest_index() -> None:
    finish = torch.ones(3, 3, dtype=torch.float64)
    logits = torch.tensor([[9.9999, 10.0, 10.0], [10.0, 9.9999, 9.9998], [10.0, 9.9999, 10.0]])
    assert greedy_choice(logits, finish, 1e-3).tolist() == [1, 0, 0]
    # a difference of float rounding is no preference: the lowest index of the two
    rounding = torch.tensor([[10.0, 10.0 + 2e-6, 9.0], [1e-3, 1e-3 + 2e-6, 1e-3 + 2e-5]])
    assert greedy_choice(rounding, torch.ones(2, 3, dtype=torch.float64), 1e-3).tolist() == [0, 2]


def test_the_choice_follows_the_servers_when_they_are_reordered() -> None:
    """With the scores saturated (many servers at the ceiling) the choice depends on what the
    servers are, not where they are listed: permuting the servers permutes the choice."""
    g = torch.Generator().manual_seed(0)
    logits = (10 * torch.tanh(5 * torch.randn(64, 20, generator=g))).masked_fill(
        torch.rand(64, 20, generator=g) < 0.3, -INF
    )
    finish = torch.rand(64, 20, generator=g, dtype=torch.float64)
    assert ((logits >= logits.amax(-1, keepdim=True) - 1e-3).sum(-1) > 1).float().mean() > 0.5  # mostly tied
    choice = greedy_choice(logits, finish, 1e-3)
    for seed in range(5):
        perm = torch.randperm(20, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(perm[greedy_choice(logits[:, perm], finish[:, perm], 1e-3)], choice)
    assert not torch.equal(logits.argmax(-1), choice)  # the index would have chosen otherwise


def test_rows_without_a_feasible_server_or_with_stale_fields_still_get_a_server() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # the decoder's uniform fallback rows
    finish = torch.tensor([[INF, INF, INF], [math.nan, math.nan, math.nan]], dtype=torch.float64)
    assert greedy_choice(logits, finish, 1e-3).tolist() == [0, 0]


def test_tied_with_top() -> None:
    logits = torch.tensor([[1.0, 0.9995, 0.99, -INF], [-INF, -INF, -INF, -INF]])
    assert tied_with_top(logits, 1e-3).tolist() == [[True, True, False, False], [True, True, True, True]]


def test_normalised_entropy_by_hand() -> None:
    allowed = torch.tensor([[True, True, True, False], [True, True, False, False], [False, True, False, False]])
    logits = torch.tensor([[0.5, 0.5, 0.5, 7.0], [math.log(3.0), 0.0, 9.0, 9.0], [1.0, 2.0, 3.0, 4.0]])
    ent = normalised_entropy(logits, allowed)
    p = torch.tensor([0.75, 0.25])
    assert ent[0].item() == pytest.approx(1.0)  # uniform over the allowed three, whatever the others hold
    assert ent[1].item() == pytest.approx(float(-(p * p.log()).sum() / math.log(2)))  # 0.8113
    assert math.isnan(ent[2].item())  # a single feasible server: nothing to choose between


def test_decision_record_summary_by_hand() -> None:
    record = DecisionRecord()
    z = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [0.0, 1.0]])
    logits = torch.tensor([[2.0, 2.0, 0.0], [1.0, 0.0, -INF], [0.0, 0.0, 0.0], [5.0, 1.0, 5.0]])
    allowed = torch.tensor([[True, True, True], [True, True, False], [False, False, False], [True, True, True]])
    finish = torch.tensor([[1.0, 1.0, 2.0], [1.0, 2.0, INF], [INF, INF, INF], [3.0, 1.0, 2.0]], dtype=torch.float64)
    record.add(logits, z, allowed, finish, live=torch.tensor([True, True, False, True]), tolerance=1e-3)
    one = torch.tensor([[True, False, False]])
    record.add(logits[:1], z[:1], one, finish[:1], live=torch.tensor([True]), tolerance=1e-3)
    out = record.summary()
    assert out["decisions"] == 4.0
    assert out["tie_share"] == pytest.approx(2 / 4)  # rows 0 (two servers at 2.0) and 3 (two at 5.0)
    assert out["tie_apart_share"] == pytest.approx(1 / 4)  # row 0's tied servers finish together
    h = [
        torch.special.entr(torch.softmax(logits[b][allowed[b]], 0)).sum() / math.log(int(allowed[b].sum()))
        for b in (0, 1, 3)
    ]
    assert out["entropy"] == pytest.approx(float(sum(h)) / 3)  # the single-server decision is left out
    zs = torch.cat([z[[0, 1, 3]], z[:1]])
    for k, v in feature_stats(zs).items():
        assert out[f"z_{k}"] == pytest.approx(v)
    empty = DecisionRecord().summary()
    assert empty["decisions"] == 0 and all(math.isnan(v) for k, v in empty.items() if k != "decisions")


def test_greedy_policy_records_ties_entropy_and_z(make_obs, make_policy) -> None:
    policy = make_policy("gin")
    obs = make_obs(16, 6, 8, 12, feasible_prob=0.6)
    obs = replace(obs, done=torch.arange(16) % 5 == 0)
    with torch.no_grad():
        policy.decoder.pointer_query.weight.mul_(1e5)  # a saturated pointer: ties at the ceiling
    greedy = GreedyPolicy(policy, record_features=True)
    greedy.reset(16)
    action = greedy(obs)
    action2 = greedy(obs)
    assert torch.equal(action, action2) and torch.equal(action, policy.select(obs))
    assert torch.equal(action, policy.act(obs, greedy=True)[0])
    logits, _, z = policy(obs)
    live, allowed = ~obs.done, policy.allowed_servers(obs)
    tied = ((logits >= logits.amax(-1, keepdim=True) - 1e-3) & allowed).sum(-1) >= 2
    out = greedy.diagnostics()
    assert out["decisions"] == 2 * int(live.sum())
    assert 0 < out["tie_share"] == pytest.approx(tied[live].float().mean().item())
    assert 0 <= out["tie_apart_share"] <= out["tie_share"]
    assert out["z_mean"] == pytest.approx(feature_stats(z[live])["mean"])
    assert len(greedy.features) == 2 and torch.equal(greedy.features[0], z[live])
    greedy.reset(16)
    assert greedy.diagnostics()["decisions"] == 0 and greedy.features == []
    silent = GreedyPolicy(policy)
    silent(obs)
    assert silent.features == [] and silent.diagnostics()["decisions"] == 0


def test_greedy_choice_of_the_policy_is_argmax_without_ties_and_index_when_asked(make_obs, make_policy) -> None:
    policy = make_policy("gin")
    obs = make_obs(8, 6, 8, 16)
    with torch.no_grad():
        policy.decoder.pointer_query.weight.mul_(1e5)
    logits = policy(obs).logits
    assert torch.equal(policy.select(obs), greedy_choice(logits, obs.est_finish, policy.tie_tolerance))
    assert not torch.equal(policy.select(obs), logits.argmax(-1))  # saturated: ties, broken otherwise
    policy.tie_tolerance = None
    assert torch.equal(policy.select(obs), logits.argmax(-1))
    with pytest.raises(ValueError, match="tie_tolerance"):
        type(policy)(policy.dag_encoder, policy.decoder, policy.task_dim, policy.server_dim, tie_tolerance=-1.0)
