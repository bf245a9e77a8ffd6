"""PPO maths against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from scale_pl.algos.ppo import explained_variance, gae, ppo_losses, time_discounts


def test_gae_matches_hand_computation_with_an_episode_end() -> None:
    # gamma 0.9, lambda 0.8; the episode ends with step 1, so step 1 bootstraps nothing.
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [1.5]])
    dones = torch.tensor([[False], [True], [False]])
    adv, ret = gae(rewards, values, dones, torch.tensor([2.0]), gamma=0.9, lam=0.8)
    # t=2: 3 + 0.9*2.0 - 1.5 = 3.3; t=1: 2 - 1.0 = 1.0; t=0: (1 + 0.9*1.0 - 0.5) + 0.9*0.8*1.0 = 2.12
    assert adv.flatten().tolist() == pytest.approx([2.12, 1.0, 3.3])
    assert ret.flatten().tolist() == pytest.approx([2.62, 2.0, 4.8])


def test_gae_with_lambda_one_is_the_discounted_return_minus_value() -> None:
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    values = torch.zeros(2, 2)
    adv, _ = gae(rewards, values, torch.zeros(2, 2, dtype=torch.bool), torch.tensor([10.0, 0.0]), gamma=0.5, lam=1.0)
    assert adv[:, 0].tolist() == pytest.approx([1 + 0.5 * 1 + 0.25 * 10, 1 + 0.5 * 10])
    assert adv[:, 1].tolist() == pytest.approx([0.5, 1.0])


def test_gae_with_a_discount_per_step_in_time() -> None:
    """gamma_t = exp(-dt_t / horizon): a step 2 s long discounts the future more than one 0.5 s long."""
    horizon = 4.0
    gammas = time_discounts(torch.tensor([[2.0], [0.5]]), horizon)
    g0, g1 = math.exp(-0.5), math.exp(-0.125)
    assert gammas.flatten().tolist() == pytest.approx([g0, g1])
    rewards, values = torch.tensor([[1.0], [1.0]]), torch.zeros(2, 1)
    adv, _ = gae(rewards, values, torch.zeros(2, 1, dtype=torch.bool), torch.tensor([10.0]), gammas, lam=1.0)
    assert adv.flatten().tolist() == pytest.approx([1 + g0 * (1 + g1 * 10), 1 + g1 * 10])
    # a float gamma is the same as a tensor of it
    a, _ = gae(rewards, values, torch.zeros(2, 1, dtype=torch.bool), torch.tensor([10.0]), 0.9, lam=0.8)
    b, _ = gae(rewards, values, torch.zeros(2, 1, dtype=torch.bool), torch.tensor([10.0]), torch.full((2, 1), 0.9), 0.8)
    torch.testing.assert_close(a, b)
    # negative dt (never produced) is treated as 0, not as growth
    assert float(time_discounts(torch.tensor([-1.0]), horizon)) == 1.0


def test_gae_with_lambda_in_time() -> None:
    """lam_t = exp(-dt_t / horizon): credit from further on fades with the seconds between decisions."""
    dts = torch.tensor([[2.0], [0.5], [1.0]])
    lams = time_discounts(dts, 4.0)  # e^-0.5, e^-0.125, e^-0.25
    l0, l1 = math.exp(-0.5), math.exp(-0.125)
    rewards, values = torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[0.5], [1.0], [1.5]])
    dones = torch.zeros(3, 1, dtype=torch.bool)
    adv, ret = gae(rewards, values, dones, torch.tensor([2.0]), gamma=0.9, lam=lams)
    d2 = 3 + 0.9 * 2.0 - 1.5
    d1 = 2 + 0.9 * 1.5 - 1.0
    d0 = 1 + 0.9 * 1.0 - 0.5
    a1 = d1 + 0.9 * l1 * d2
    assert adv.flatten().tolist() == pytest.approx([d0 + 0.9 * l0 * a1, a1, d2])
    torch.testing.assert_close(ret, adv + values)
    # a float lambda is the same as a tensor of it; a horizon of seconds far above every dt is lambda 1
    a, _ = gae(rewards, values, dones, torch.tensor([2.0]), 0.9, lam=0.8)
    b, _ = gae(rewards, values, dones, torch.tensor([2.0]), 0.9, lam=torch.full((3, 1), 0.8))
    torch.testing.assert_close(a, b)
    one, _ = gae(rewards, values, dones, torch.tensor([2.0]), 0.9, lam=1.0)
    far, _ = gae(rewards, values, dones, torch.tensor([2.0]), 0.9, lam=time_discounts(dts, 1e9))
    torch.testing.assert_close(far, one)


def test_gae_bootstraps_a_truncated_episode_with_its_next_value() -> None:
    """Step 0 is truncated (done, bootstrap 5): delta_0 = 1 + 0.9 * 5 - 0.5; nothing flows from step 1."""
    rewards, values = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.5], [1.0]])
    dones = torch.tensor([[True], [False]])
    bootstrap = torch.tensor([[5.0], [0.0]])
    adv, _ = gae(rewards, values, dones, torch.tensor([3.0]), 0.9, 0.8, bootstrap=bootstrap)
    assert adv.flatten().tolist() == pytest.approx([1 + 0.9 * 5 - 0.5, 2 + 0.9 * 3 - 1.0])


def test_clipped_surrogate_value_loss_and_diagnostics() -> None:
    new = torch.log(torch.tensor([0.5, 0.2]))
    old = torch.log(torch.tensor([0.4, 0.4]))  # ratios 1.25 and 0.5
    out = ppo_losses(new, old, advantages=torch.tensor([1.0, -1.0]), new_value=torch.tensor([1.0, 2.0]),
                     old_value=torch.tensor([1.0, 2.0]), returns=torch.tensor([0.0, 4.0]),
                     entropy=torch.tensor([0.3, 0.5]), clip=0.2)  # fmt: skip
    # max(-1.25, -1.2) = -1.2 and max(0.5, 0.8) = 0.8 -> mean -0.2
    assert out["policy_loss"].item() == pytest.approx(-0.2)
    assert out["value_loss"].item() == pytest.approx(0.5 * (1 + 4) / 2)
    assert out["entropy"].item() == pytest.approx(0.4)
    kl = ((0.25 - math.log(1.25)) + (-0.5 - math.log(0.5))) / 2
    assert out["approx_kl"].item() == pytest.approx(kl)
    assert out["clipfrac"].item() == 1.0


def test_value_clipping_takes_the_pessimistic_error() -> None:
    out = ppo_losses(torch.zeros(1), torch.zeros(1), torch.ones(1), new_value=torch.tensor([3.0]),
                     old_value=torch.tensor([0.0]), returns=torch.tensor([3.0]), entropy=torch.zeros(1),
                     clip=0.2, value_clip=1.0)  # fmt: skip
    # unclipped error 0; clipped value 1.0 -> error 4; max -> 0.5 * 4
    assert out["value_loss"].item() == pytest.approx(2.0)
    assert out["policy_loss"].item() == pytest.approx(-1.0) and out["clipfrac"].item() == 0.0


def test_explained_variance() -> None:
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target, target).item() == pytest.approx(1.0)
    assert explained_variance(torch.full_like(target, 2.5), target).item() == pytest.approx(0.0)
    assert math.isnan(explained_variance(target, torch.ones(4)).item())


def test_imitation_phase_picks_the_teacher_for_the_first_rollouts_only() -> None:
    from scale_pl.algos.module import SCALEModule
    from scale_pl.baselines.heuristics import RankAwareEFT
    from scale_pl.errors import ScaleError
    from scale_pl.models import build_policy

    module = SCALEModule(build_policy(6, 4), imitation_rollouts=3, imitation_teacher="rank_eft")
    assert [isinstance(module.teacher(i), RankAwareEFT) for i in range(5)] == [True, True, True, False, False]
    assert SCALEModule(build_policy(6, 4)).teacher(0) is None
    with pytest.raises(ScaleError, match="imitation_rollouts"):
        SCALEModule(build_policy(6, 4), imitation_rollouts=-1)
    with pytest.raises(ScaleError, match="unknown policy"):
        SCALEModule(build_policy(6, 4), imitation_rollouts=2, imitation_teacher="oracle")


def test_lambda_horizon_is_an_option_of_the_module() -> None:
    from scale_pl.algos.module import SCALEModule
    from scale_pl.errors import ScaleError
    from scale_pl.models import build_policy

    assert SCALEModule(build_policy(6, 4)).hparams.gae_lambda_horizon is None  # per decision, as before
    assert SCALEModule(build_policy(6, 4), gae_lambda_horizon=20.0).hparams.gae_lambda_horizon == 20.0
    for bad in (0.0, -5.0):
        with pytest.raises(ScaleError, match=r"model\.gae_lambda_horizon must be > 0 seconds"):
            SCALEModule(build_policy(6, 4), gae_lambda_horizon=bad)
