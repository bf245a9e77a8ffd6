"""SCALEPolicy: shapes, permutation symmetry, probabilities, sampling, wrappers, gradients."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from scale_pl.losses import srr_loss
from scale_pl.models import GreedyPolicy, SamplingPolicy, entropy_from_logits


@pytest.mark.parametrize("n", [1, 16, 128, 1024])
def test_shapes_for_every_encoder(encoder_name: str, n: int, make_obs, make_policy) -> None:
    policy = make_policy(encoder_name)
    for num_nodes in (1, 7, 40):
        obs = make_obs(2, num_nodes, 2 * num_nodes, n, seed=num_nodes)
        logits, value, z = policy(obs)
        assert logits.shape == (2, n) and value.shape == (2,) and z.shape == (2, policy.embed_dim)
        action, log_prob, value2, z2 = policy.act(obs)
        assert action.shape == (2,) and action.dtype == torch.long
        assert obs.mask.gather(1, action[:, None]).all()
        assert torch.isfinite(log_prob).all() and torch.isfinite(value2).all() and torch.isfinite(z2).all()


def test_permuting_servers_permutes_logits_only(encoder_name: str, make_obs, make_policy, permute_servers) -> None:
    policy = make_policy(encoder_name)
    obs = make_obs(4, 12, 20, 16, seed=1)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(7))
    out = policy(obs)
    out_p = policy(permute_servers(obs, perm))
    torch.testing.assert_close(out_p.logits, out.logits[:, perm], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_p.value, out.value, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_p.z, out.z, rtol=1e-5, atol=1e-6)


def test_value_uses_a_mean_over_servers(make_obs, make_policy) -> None:
    """Listing every server twice changes nothing but the logits' length: no sum over N."""
    policy = make_policy("gin")
    obs = make_obs(3, 8, 10, 5)
    doubled = torch.cat([torch.arange(5), torch.arange(5)])
    out, out_d = policy(obs), policy(replace(obs, servers=obs.servers[:, doubled], mask=obs.mask[:, doubled]))
    torch.testing.assert_close(out_d.value, out.value, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_d.z, out.z, rtol=1e-5, atol=1e-6)


def test_masked_servers_get_probability_zero(make_obs, make_policy) -> None:
    policy = make_policy("gcn")
    obs = make_obs(16, 6, 8, 10, feasible_prob=0.4)
    probs = torch.softmax(policy(obs).logits, dim=-1)
    assert (probs[~obs.mask] == 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(16))
    actions = torch.stack([policy.act(obs, generator=torch.Generator().manual_seed(s))[0] for s in range(20)])
    assert obs.mask.gather(1, actions.t()).all()


def test_single_feasible_server_has_probability_one(make_obs, make_policy) -> None:
    policy = make_policy("sage")
    obs = make_obs(5, 6, 8, 9)
    only = torch.tensor([0, 3, 8, 5, 5])
    mask = torch.zeros(5, 9, dtype=torch.bool)
    mask[torch.arange(5), only] = True
    obs = replace(obs, mask=mask)
    probs = torch.softmax(policy(obs).logits, dim=-1)
    torch.testing.assert_close(probs.gather(1, only[:, None]).squeeze(1), torch.ones(5))
    for greedy in (True, False):
        action, log_prob, _, _ = policy.act(obs, greedy=greedy)
        assert torch.equal(action, only)
        torch.testing.assert_close(log_prob, torch.zeros(5))
    _, entropy, _, _ = policy.evaluate(obs, only)
    torch.testing.assert_close(entropy, torch.zeros(5))


def test_evaluate_matches_log_softmax_and_hand_entropy(make_obs, make_policy) -> None:
    policy = make_policy("transformer")
    obs = make_obs(6, 10, 12, 7, feasible_prob=0.5)
    action = policy.act(obs, generator=torch.Generator().manual_seed(0))[0]
    log_prob, entropy, value, z = policy.evaluate(obs, action)
    logits = policy(obs).logits
    torch.testing.assert_close(log_prob, torch.log_softmax(logits, -1)[torch.arange(6), action])
    for b in range(6):
        feasible = logits[b][obs.mask[b]]
        p = [math.exp(v) for v in feasible.tolist()]
        p = [v / sum(p) for v in p]
        assert entropy[b].item() == pytest.approx(-sum(v * math.log(v) for v in p), rel=1e-5)
    assert value.shape == (6,) and z.shape == (6, policy.embed_dim)


def test_entropy_of_uniform_and_masked_logits() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, float("-inf"), float("-inf")]], requires_grad=True)
    entropy = entropy_from_logits(logits)
    torch.testing.assert_close(entropy, torch.tensor([math.log(4), math.log(2)]))
    entropy.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_done_and_infeasible_rows_stay_finite(make_obs, make_policy) -> None:
    """Finished envs and rows with no feasible server: uniform over all N, finite everywhere."""
    policy = make_policy("gatv2").train()
    obs = make_obs(4, 6, 8, 5)
    mask = obs.mask.clone()
    mask[1] = False
    obs = replace(obs, mask=mask, done=torch.tensor([False, False, True, False]))
    action = torch.tensor([0, 4, 4, int(obs.mask[3].nonzero()[0])])
    log_prob, entropy, value, z = policy.evaluate(obs, action)
    torch.testing.assert_close(log_prob[1:3], torch.full((2,), -math.log(5)))
    torch.testing.assert_close(entropy[1:3], torch.full((2,), math.log(5)))
    (log_prob.sum() + entropy.sum() + value.sum() + z.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in policy.parameters() if p.grad is not None)
    assert torch.isfinite(policy.act(obs)[1]).all()


def test_greedy_is_argmax_and_select(make_obs, make_policy) -> None:
    policy = make_policy("gin")
    obs = make_obs(8, 6, 8, 16)
    action = policy.act(obs, greedy=True)[0]
    assert torch.equal(action, policy(obs).logits.argmax(-1))
    assert torch.equal(policy.select(obs), action)


def test_sampling_follows_the_policy_distribution(make_obs, make_policy) -> None:
    """Gumbel-max sampling draws each server with its softmax probability."""
    policy = make_policy("mlp")
    with torch.no_grad():
        policy.decoder.server_proj.weight.mul_(30.0)  # a far-from-uniform distribution
    obs = make_obs(1, 4, 3, 6, feasible_prob=0.8)
    repeated = obs.index(torch.zeros(20000, dtype=torch.long))
    with torch.no_grad():
        expected = torch.softmax(policy(obs).logits[0], -1)
        actions = policy.act(repeated, generator=torch.Generator().manual_seed(0))[0]
    assert expected.max() - expected.min() > 0.2
    freq = torch.bincount(actions, minlength=6).float() / 20000
    torch.testing.assert_close(freq, expected, atol=0.015, rtol=0)


def test_sampling_is_reproducible_with_a_generator(make_obs, make_policy) -> None:
    policy = make_policy("gin")
    obs = make_obs(64, 6, 8, 16)
    a1 = policy.act(obs, generator=torch.Generator().manual_seed(3))[0]
    a2 = policy.act(obs, generator=torch.Generator().manual_seed(3))[0]
    a3 = policy.act(obs, generator=torch.Generator().manual_seed(4))[0]
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)


def test_wrappers_follow_the_simulator_policy_protocol(make_obs, make_policy) -> None:
    policy = make_policy("gin").train()
    obs = make_obs(32, 6, 8, 16)
    greedy, sampling = GreedyPolicy(policy), SamplingPolicy(policy, seed=11)
    greedy.reset(32)
    action = greedy(obs)
    assert action.shape == (32,) and action.dtype == torch.long and not action.requires_grad
    assert policy.training, "the wrapper must restore the training flag"
    policy.eval()
    assert torch.equal(action, policy.select(obs))
    sampling.reset(32)
    first = [sampling(obs), sampling(obs)]
    sampling.reset(32)
    second = [sampling(obs), sampling(obs)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(first[0], first[1])
    assert obs.mask.gather(1, first[0][:, None]).all()


def test_gradients_reach_every_parameter(encoder_name: str, make_obs, make_policy) -> None:
    policy = make_policy(encoder_name).train()
    obs = make_obs(32, 10, 16, 8, seed=2)
    action = policy.act(obs, generator=torch.Generator().manual_seed(0))[0]
    log_prob, entropy, value, z = policy.evaluate(obs, action)
    advantage = torch.randn(32, generator=torch.Generator().manual_seed(1))
    returns = torch.randn(32, generator=torch.Generator().manual_seed(2))
    loss = -(log_prob * advantage).mean() - 0.01 * entropy.mean() + (value - returns).pow(2).mean() + srr_loss(z)
    loss.backward()
    for name, param in policy.named_parameters():
        assert param.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_clear_errors(make_obs, make_policy) -> None:
    policy = make_policy("gin")
    obs = make_obs(2, 4, 4, 3)
    with pytest.raises(ValueError, match="nodes"):
        policy(replace(obs, nodes=None))
    with pytest.raises(ValueError, match="node features"):
        policy(replace(obs, nodes=obs.nodes[..., :-1]))


def test_garbage_features_of_masked_servers_are_ignored(make_obs, make_policy) -> None:
    """NaN or inf in an infeasible (or padded) server's features changes nothing."""
    policy = make_policy("gin").train()
    obs = make_obs(8, 6, 8, 12, feasible_prob=0.5)
    servers = obs.servers.clone()
    servers[~obs.mask] = float("nan")
    servers[~obs.mask, 0] = float("inf")
    clean, dirty = policy.eval()(obs), policy(replace(obs, servers=servers))
    torch.testing.assert_close(dirty.logits, clean.logits)
    torch.testing.assert_close(dirty.value, clean.value)
    torch.testing.assert_close(dirty.z, clean.z)
    action = policy.select(obs)
    log_prob, entropy, value, z = policy.train().evaluate(replace(obs, servers=servers), action)
    (log_prob.sum() + entropy.sum() + value.sum() + z.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in policy.parameters() if p.grad is not None)


def test_stale_fields_of_finished_environments_stay_out_of_gradients(make_obs, make_policy) -> None:
    policy = make_policy("sage").train()
    obs = make_obs(4, 6, 8, 5)
    done = torch.tensor([False, True, False, True])
    dirty = replace(
        obs,
        done=done,
        task=obs.task.masked_fill(done[:, None], float("inf")),
        nodes=obs.nodes.masked_fill(done[:, None, None], float("nan")),
        servers=obs.servers.masked_fill(done[:, None, None], float("inf")),
    )
    log_prob, entropy, value, z = policy.evaluate(dirty, torch.zeros(4, dtype=torch.long))
    for t in (log_prob, entropy, value, z):
        assert torch.isfinite(t).all()
    live = ~done
    (log_prob[live].sum() + value[live].sum() + z[live].sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in policy.parameters() if p.grad is not None)
