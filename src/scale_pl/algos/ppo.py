"""PPO maths, written to be checked line by line against Schulman et al. (2017) and CleanRL's ppo.py."""

from __future__ import annotations

import torch


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float | torch.Tensor,
    lam: float | torch.Tensor,
    bootstrap: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a truncated rollout.

    ``dones[t]`` means the episode ended with step ``t``: nothing after it is bootstrapped.
    delta_t = r_t + gamma_t * V_{t+1} * (1 - done_t) - V_t;
    A_t = delta_t + gamma_t * lam_t * (1 - done_t) * A_{t+1}; returns = A + V.

    ``gamma`` is one discount per decision (a float) or ``[T, B]``, the discount between
    decision ``t`` and the next (``exp(-dt / horizon)`` for a discount in time); so is ``lam``
    (``exp(-dt / lambda_horizon)`` for a lambda in time: real reward then reaches an action from
    the same span of the cluster's life at every ``N``).
    ``bootstrap`` ``[T, B]`` (optional): the value of the state after step ``t`` where the
    episode was truncated there (``dones[t]`` True, but not an end): delta_t gains
    ``gamma_t * bootstrap_t``.

    Shapes: rewards, values, dones ``[T, B]``, last_value ``[B]`` -> advantages, returns ``[T, B]``.
    """
    if not isinstance(gamma, torch.Tensor):
        gamma = torch.full_like(rewards, float(gamma))
    if not isinstance(lam, torch.Tensor):
        lam = torch.full_like(rewards, float(lam))
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(steps)):
        not_done = 1.0 - dones[t].float()
        delta = rewards[t] + gamma[t] * next_value * not_done - values[t]
        if bootstrap is not None:
            delta = delta + gamma[t] * bootstrap[t]
        next_advantage = delta + gamma[t] * lam[t] * not_done * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages, advantages + values


def ppo_losses(
    new_log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    new_value: torch.Tensor,
    old_value: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    clip: float,
    value_clip: float | None = None,
) -> dict[str, torch.Tensor]:
    """Clipped surrogate, value and entropy terms of one minibatch, plus CleanRL's diagnostics.

    policy_loss = mean(max(-A r, -A clip(r, 1 - eps, 1 + eps))), r = exp(new - old);
    value_loss = 0.5 mean((V - R)^2), or with ``value_clip`` the max of the clipped and
    unclipped squared errors; approx_kl = mean((r - 1) - log r) (Schulman's k3 estimator);
    clipfrac = share of samples with |r - 1| > eps.
    """
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    policy_loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
    if value_clip is None:
        value_loss = 0.5 * (new_value - returns).pow(2).mean()
    else:
        clipped = old_value + (new_value - old_value).clamp(-value_clip, value_clip)
        value_loss = 0.5 * torch.max((new_value - returns).pow(2), (clipped - returns).pow(2)).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1.0).abs() > clip).float().mean()
    return {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy.mean(),
        "approx_kl": approx_kl,
        "clipfrac": clipfrac,
    }


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - Var(target - predicted) / Var(target); nan when the target is constant."""
    var = target.var()
    return torch.where(var > 0, 1 - (target - predicted).var() / var, torch.full_like(var, float("nan")))


def time_discounts(dts: torch.Tensor, horizon: float) -> torch.Tensor:
    """Per-step discounts ``exp(-dt / horizon)`` for decision intervals ``dts`` (seconds, >= 0).

    The same horizon in seconds at every cluster size: with per-decision discounting the
    horizon in seconds shrinks as 1/N, since decisions come N times as often. Serves GAE's gamma
    and, with its own horizon, its lambda.
    """
    return torch.exp(-dts.clamp(min=0.0) / horizon)
