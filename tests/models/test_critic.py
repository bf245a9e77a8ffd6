"""The critic: its loss stays out of the actor; PopArt statistics preserve every output."""

from __future__ import annotations

import pytest
import torch

from scale_pl.models import Critic


def _critic_inputs(b: int = 6, n: int = 5, d: int = 8, s: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(b, n, generator=g) < 0.7
    mask[:, 0] = True
    return (torch.randn(b, d, generator=g), torch.randn(b, d, generator=g), torch.randn(b, n, d, generator=g),
            mask, torch.randn(b, s, generator=g))  # fmt: skip


def test_value_loss_reaches_only_the_critic(make_obs, make_policy) -> None:
    """With the stop-gradient, a value loss leaves every actor parameter without gradient."""
    policy = make_policy("gin").train()
    out = policy(make_obs(8, 10, 16, 6, seed=1))
    (out.value - 3.0).pow(2).mean().backward()
    critic = {id(p) for p in policy.critic.parameters()}
    for name, param in policy.named_parameters():
        if id(param) in critic:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None or param.grad.abs().sum() == 0, f"{name} moved by the value loss"


def test_without_stop_gradient_the_value_loss_does_reach_the_actor() -> None:
    """The switch matters: the same loss through a critic without the stop-gradient moves its inputs."""
    task, z, servers, mask, system = _critic_inputs()
    task.requires_grad_(True)
    for stop, expect_grad in ((True, False), (False, True)):
        task.grad = None
        torch.manual_seed(0)
        value = Critic(8, 16, system_dim=3, stop_gradient=stop)(task, z, servers, mask, system)
        value.sum().backward()
        assert (task.grad is not None and task.grad.abs().sum() > 0) == expect_grad


def test_popart_update_preserves_outputs_and_tracks_the_targets() -> None:
    torch.manual_seed(0)
    critic = Critic(8, 16, system_dim=3)
    inputs = _critic_inputs()
    before = critic(*inputs)
    targets = torch.tensor([-30.0, -10.0, -20.0, -40.0])
    critic.update_statistics(targets)  # the first batch sets the statistics
    assert float(critic.mu) == pytest.approx(-25.0)
    assert float(critic.sigma) == pytest.approx(125.0**0.5)  # deviations 5, 15, 5, 15
    torch.testing.assert_close(critic(*inputs), before, rtol=1e-5, atol=1e-5)
    # later batches move the first two moments by beta = 0.1:
    # mean 0.9 * -25 + 0.1 * 5 = -22; second moment 0.9 * (125 + 625) + 0.1 * 25 = 677.5; var 677.5 - 484
    critic.update_statistics(torch.tensor([5.0, 5.0]))
    assert float(critic.mu) == pytest.approx(-22.0)
    assert float(critic.sigma) == pytest.approx(193.5**0.5, rel=1e-5)
    torch.testing.assert_close(critic(*inputs), before, rtol=1e-5, atol=1e-4)
    # the loss is taken in normalised units: a target at mu is 0, one sigma above is 1
    torch.testing.assert_close(critic.normalise(critic.mu + critic.sigma), torch.tensor(1.0))


def test_the_critic_reads_the_system_features() -> None:
    torch.manual_seed(0)
    critic = Critic(8, 16, system_dim=3)
    task, z, servers, mask, system = _critic_inputs()
    assert not torch.allclose(critic(task, z, servers, mask, system), critic(task, z, servers, mask, system + 1))
    with pytest.raises(ValueError, match=r"Observation\.system"):
        critic(task, z, servers, mask, None)


def test_the_critic_told_log_n_reads_the_real_servers_of_a_padded_batch() -> None:
    """Clusters of 4 and 8 servers in one batch (padded to 8): the policy counts 4 and 8, and a
    critic with ``size_feature`` gets log 4 and log 8 as its last input."""
    from scale_pl.models.policy import SCALEPolicy, build_policy
    from scale_pl.sim.batched.batch import WorkloadBatch
    from scale_pl.sim.batched.env import SchedulingEnv
    from scale_pl.sim.generators.config import load_cluster_spec, load_generator

    generator, spec = load_generator(num_workflows=3), load_cluster_spec()
    pairs = [
        (generator.generate(spec.make(n, generator.catalogue), 0), spec.make(n, generator.catalogue)) for n in (4, 8)
    ]
    obs = SchedulingEnv(WorkloadBatch.from_pairs(pairs)).observe()
    assert SCALEPolicy.num_servers(obs).tolist() == [4, 8]
    policy = build_policy(6, 4)
    policy.critic = Critic(policy.embed_dim, system_dim=policy.critic.system_dim, size_feature=True)
    seen = {}
    policy.critic.net.register_forward_hook(lambda module, args, out: seen.setdefault("x", args[0]))
    with torch.no_grad():
        policy(obs)
    assert seen["x"][:, -1].tolist() == pytest.approx(
        [torch.log(torch.tensor(4.0)).item(), torch.log(torch.tensor(8.0)).item()]
    )
    with pytest.raises(ValueError, match="number of servers"):
        policy.critic(torch.zeros(1, 32), torch.zeros(1, 32), torch.zeros(1, 2, 32), torch.ones(1, 2, dtype=torch.bool),
                      torch.zeros(1, policy.critic.system_dim))  # fmt: skip
