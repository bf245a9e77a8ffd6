"""HeuristicPrior and the anchored pointer: hand values, the heuristics it encodes, the bound."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from scale_pl.baselines import EarliestFinishTime, RankAwareEFT
from scale_pl.models import HeuristicPrior, greedy_choice
from scale_pl.models.synthetic import random_observation

INF = math.inf


def _obs(est_finish, speed=None, slack=None, done=None):
    """A random observation with the given raw fields (``[B, N]`` lists; inf = infeasible)."""
    est = torch.tensor(est_finish, dtype=torch.float64)
    b, n = est.shape
    obs = random_observation(b, 3, 2, n, generator=torch.Generator().manual_seed(0))
    return replace(
        obs,
        mask=torch.isfinite(est),
        est_finish=est,
        speed=torch.ones(b, n, dtype=torch.float64) if speed is None else torch.tensor(speed, dtype=torch.float64),
        slack=torch.zeros(b, dtype=torch.float64) if slack is None else torch.tensor(slack, dtype=torch.float64),
        done=torch.zeros(b, dtype=torch.bool) if done is None else torch.tensor(done),
    )


def _allowed(obs):
    return obs.mask & ~obs.done[:, None]


def test_eft_prior_is_minus_kappa_log_ratio_to_the_best() -> None:
    obs = _obs([[2.0, 4.0, INF, 1.0], [5.0, 5.0, 10.0, INF]])
    prior = HeuristicPrior("eft", kappa=3.0)(obs, _allowed(obs))
    want = [[-3 * math.log(2), -3 * math.log(4), 0.0, 0.0], [0.0, 0.0, -3 * math.log(2), 0.0]]
    torch.testing.assert_close(prior, torch.tensor(want, dtype=torch.float64))


def test_rank_eft_prior_by_hand() -> None:
    """Slack 4 s, half of it spendable: deadline = 1 + 2 = 3 s. Servers 0, 1 and 3 are admitted."""
    obs = _obs([[1.0, 2.5, 6.0, 3.0]], speed=[[4.0, 2.0, 1.0, 2.0]], slack=[4.0])
    prior = HeuristicPrior("rank_eft", kappa=2.0, slack_fraction=0.5)(obs, _allowed(obs))
    # admitted: -2 log(speed / 2) (the slowest admitted runs at 2); server 2, past it: -2 log(6 / 3)
    want = [[-2 * math.log(2), 0.0, -2 * math.log(2), 0.0]]
    torch.testing.assert_close(prior, torch.tensor(want, dtype=torch.float64))
    # no slack: the eft score (the slowest admitted server is then the best one)
    no_slack = HeuristicPrior("rank_eft", kappa=2.0)(replace(obs, slack=torch.zeros(1, dtype=torch.float64)), obs.mask)
    torch.testing.assert_close(no_slack, HeuristicPrior("eft", kappa=2.0)(obs, obs.mask))


def _tied_observations(seed: int):
    """Random observations with few distinct finish times and speeds, so heuristics meet ties."""
    g = torch.Generator().manual_seed(seed)
    obs = random_observation(64, 3, 2, 12, feasible_prob=0.6, generator=g)
    est = (torch.randint(1, 6, obs.mask.shape, generator=g) * 0.5).double()
    speed = torch.randint(1, 4, obs.mask.shape, generator=g).double()
    slack = torch.randint(0, 8, (64,), generator=g).double()
    return replace(obs, est_finish=est.masked_fill(~obs.mask, INF), speed=speed, slack=slack)


@pytest.mark.parametrize("kind, heuristic", [("eft", EarliestFinishTime()), ("rank_eft", RankAwareEFT())])
def test_the_greedy_choice_under_a_prior_alone_is_the_heuristics(kind, heuristic) -> None:
    """argmax of the prior, ties to the earliest finish, chooses what the heuristic chooses; the
    heuristics' last resort is the lowest index, and so is greedy_choice's, so they agree exactly."""
    for seed in range(5):
        obs = _tied_observations(seed)
        allowed = _allowed(obs)
        logits = HeuristicPrior(kind, kappa=3.0)(obs, allowed).float().masked_fill(~allowed, -INF)
        assert torch.equal(greedy_choice(logits, obs.est_finish, 1e-3), heuristic(obs))


def test_infeasible_servers_and_finished_rows_score_zero_and_stay_finite() -> None:
    obs = _obs([[INF, 2.0, 0.0], [1.0, 2.0, 3.0]], slack=[1.0, 1.0], done=[False, True])
    obs.est_finish[1] = math.nan  # a finished environment's stale fields may hold anything
    for kind in ("eft", "rank_eft"):
        prior = HeuristicPrior(kind)(obs, _allowed(obs))
        assert torch.isfinite(prior).all()
        assert prior[0, 0] == 0 and (prior[1] == 0).all()
    # 2 s against a zero-second finish (floored at 1e-9 s): very bad, but finite
    assert float(HeuristicPrior("eft")(obs, _allowed(obs))[0, 1]) == pytest.approx(-3 * math.log(2e9))


def test_none_prior_is_zero_and_bad_arguments_are_refused() -> None:
    obs = _obs([[1.0, 2.0]])
    assert torch.equal(HeuristicPrior("none")(obs, obs.mask), torch.zeros(1, 2, dtype=torch.float64))
    for kwargs, match in [({"kind": "heft"}, "kind"), ({"kappa": 0.0}, "kappa"), ({"kappa": INF}, "kappa"),
                          ({"slack_fraction": -1.0}, "slack_fraction")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            HeuristicPrior(**kwargs)


def test_learned_kappa_starts_at_kappa_and_gets_a_gradient() -> None:
    obs = _obs([[1.0, 2.0, 4.0]])
    prior = HeuristicPrior("eft", kappa=3.0, learn_kappa=True)
    assert float(prior.kappa.detach()) == pytest.approx(3.0)
    assert [name for name, _ in prior.named_parameters()] == ["raw_kappa"]
    scores = prior(obs, obs.mask)
    torch.testing.assert_close(scores.detach(), HeuristicPrior("eft", kappa=3.0)(obs, obs.mask))
    scores.sum().backward()
    sigmoid = 1 - math.exp(-3.0)  # d softplus(r) / dr at softplus(r) = 3
    assert float(prior.raw_kappa.grad) == pytest.approx(-(math.log(2) + math.log(4)) * sigmoid, rel=1e-5)
    with torch.no_grad():
        prior.raw_kappa.fill_(-5.0)
    prior.reset_parameters()
    assert float(prior.kappa.detach()) == pytest.approx(3.0)
    assert HeuristicPrior("eft").kappa == 3.0 and not list(HeuristicPrior("eft").parameters())


def test_anchored_logits_are_the_prior_plus_a_residual_bounded_by_the_clip(make_obs, make_policy) -> None:
    """Whatever the weights, the logits stay within tanh_clip of the prior."""
    policy = make_policy("gin")
    obs = make_obs(16, 6, 8, 20, feasible_prob=0.6)
    plain = policy(obs).logits
    prior = HeuristicPrior("eft", kappa=3.0)
    policy.set_anchor(prior, residual_clip=2.0)
    with torch.no_grad():
        policy.decoder.pointer_query.weight.mul_(1000.0)  # saturate the residual
    anchored = policy(obs).logits
    residual = anchored - prior(obs, obs.mask).float()
    assert (residual[obs.mask].abs() <= 2.0 + 1e-5).all() and residual[obs.mask].abs().max() > 1.99
    assert torch.isneginf(anchored[~obs.mask]).all()
    policy.set_anchor(None, residual_clip=10.0)
    with torch.no_grad():
        policy.decoder.pointer_query.weight.div_(1000.0)
    torch.testing.assert_close(policy(obs).logits, plain)


def test_the_anchor_keeps_the_policy_permutation_equivariant(make_obs, make_policy, permute_servers) -> None:
    policy = make_policy("gin")
    policy.set_anchor(HeuristicPrior("rank_eft", kappa=2.0))
    obs = make_obs(4, 12, 20, 16, seed=1)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(7))
    out, out_p = policy(obs), policy(permute_servers(obs, perm))
    torch.testing.assert_close(out_p.logits, out.logits[:, perm], rtol=1e-5, atol=1e-5)


def test_ppo_samples_and_rescores_under_the_prior(make_obs, make_policy) -> None:
    """act and evaluate use the anchored logits; the learned kappa gets a policy gradient."""
    policy = make_policy("gin").train()
    policy.set_anchor(HeuristicPrior("eft", kappa=1.0, learn_kappa=True))
    obs = make_obs(8, 6, 8, 10, feasible_prob=0.5)
    action, log_prob, _, _ = policy.act(obs, generator=torch.Generator().manual_seed(0))
    new_log_prob, entropy, _, _ = policy.evaluate(obs, action)
    want = torch.log_softmax(policy(obs).logits, -1).gather(1, action[:, None]).squeeze(1)
    torch.testing.assert_close(new_log_prob, want)
    torch.testing.assert_close(log_prob, want.detach())
    (new_log_prob.sum() + entropy.sum()).backward()
    assert policy.prior.raw_kappa.grad is not None and policy.prior.raw_kappa.grad != 0


def test_the_shield_admits_the_servers_within_its_factor_of_the_earliest() -> None:
    obs = _obs([[2.0, 4.0, INF, 1.0], [5.0, 5.0, 10.0, INF], [3.0, 1.0, 2.0, 9.0]], done=[False, False, True])
    allowed = _allowed(obs)
    admitted = HeuristicPrior("eft", shield=2.0).admit(obs, allowed)
    # row 0: best 1 s, so 2 s stays and 4 s goes; row 1: best 5 s, 10 s is exactly 2x and stays;
    # row 2 is finished: nothing is allowed and the shield adds nothing
    want = [[True, False, False, True], [True, True, True, False], [False, False, False, False]]
    assert admitted.tolist() == want
    assert HeuristicPrior("eft", shield=1.0).admit(obs, allowed).tolist()[:2] == [
        [False, False, False, True], [True, True, False, False]]  # fmt: skip
    assert HeuristicPrior("eft").admit(obs, allowed) is allowed  # no shield: the allowed set itself
    # a server that would never finish goes, unless every allowed one is like it
    never = _obs([[INF, 3.0], [INF, INF]])
    both = torch.ones(2, 2, dtype=torch.bool)
    assert HeuristicPrior("none", shield=1.5).admit(never, both).tolist() == [[False, True], [True, True]]
    for shield in (0.5, INF, math.nan):
        with pytest.raises(ValueError, match="shield"):
            HeuristicPrior("eft", shield=shield)


def test_the_delay_shield_admits_the_servers_within_its_seconds_of_the_earliest() -> None:
    obs = _obs([[2.0, 4.0, INF, 1.0], [500.0, 520.0, 900.0, 530.0], [3.0, 1.0, 2.0, 9.0]], done=[False, False, True])
    allowed = _allowed(obs)
    # row 0: best 1 s, so 2 s (1 s later) stays and 4 s (3 s later) goes; row 1: best 500 s, 520
    # and 530 s are within 30 s and stay, 900 s goes although it is only 1.8x the best
    want = [[True, False, False, True], [True, True, False, True], [False, False, False, False]]
    assert HeuristicPrior("eft", delay_shield=30.0).admit(obs, allowed)[1].tolist() == want[1]
    assert HeuristicPrior("eft", delay_shield=2.0).admit(obs, allowed).tolist() == [
        want[0], [True, False, False, False], want[2]]  # fmt: skip
    # with a factor shield too, a server must pass both: 2x keeps row 1's 900 s, 30 s removes it
    both = HeuristicPrior("eft", shield=2.0, delay_shield=30.0).admit(obs, allowed)
    assert both.tolist()[1] == want[1]
    assert HeuristicPrior("eft", shield=2.0).admit(obs, allowed).tolist()[1] == [True, True, True, True]
    assert HeuristicPrior("eft", delay_shield=0.0).admit(obs, allowed).tolist()[0] == [False, False, False, True]
    assert HeuristicPrior("eft", delay_shield=5.0).shields and not HeuristicPrior("eft").shields
    never = _obs([[INF, 3.0], [INF, INF]])  # a server that never finishes goes, unless all are like it
    assert HeuristicPrior("none", delay_shield=1e6).admit(never, torch.ones(2, 2, dtype=torch.bool)).tolist() == [
        [False, True], [True, True]]  # fmt: skip
    for delay in (-1.0, INF, math.nan):
        with pytest.raises(ValueError, match="delay_shield"):
            HeuristicPrior("eft", delay_shield=delay)


def test_a_shielded_policy_is_the_policy_on_the_shielded_mask(make_obs, make_policy) -> None:
    """Logits, z and value with the shield equal those of the same policy whose observation
    masks the removed servers; sampling, re-scoring and a teacher stay inside what it admits."""
    policy = make_policy("gin").eval()
    obs = make_obs(16, 6, 8, 12, feasible_prob=0.7)
    policy.set_anchor(HeuristicPrior("eft", kappa=3.0, shield=1.5))
    admitted = policy.allowed_servers(obs)
    assert (admitted <= obs.mask).all() and (admitted.sum(-1) < obs.mask.sum(-1)).any()
    shielded = policy.shielded(obs)
    assert torch.equal(shielded.mask[~obs.done], admitted[~obs.done])
    with torch.no_grad():
        got = policy(obs)
        policy.set_anchor(HeuristicPrior("eft", kappa=3.0))  # the same prior, no shield
        want = policy(shielded)
    torch.testing.assert_close(got.logits, want.logits)
    torch.testing.assert_close(got.z, want.z)
    torch.testing.assert_close(got.value, want.value)
    assert torch.isneginf(got.logits[obs.mask & ~admitted]).all()
    policy.set_anchor(HeuristicPrior("eft", kappa=3.0, shield=1.5))
    for seed in range(3):
        with torch.no_grad():
            action, log_prob, _, _ = policy.act(obs, generator=torch.Generator().manual_seed(seed))
        live = ~obs.done
        assert admitted[live].gather(1, action[live, None]).all() and torch.isfinite(log_prob[live]).all()
    teacher = RankAwareEFT()(policy.shielded(obs))
    with torch.no_grad():
        log_prob, _, _, _ = policy.evaluate(obs, teacher)
    assert torch.isfinite(log_prob[~obs.done]).all()  # behaviour cloning under the shield stays finite
