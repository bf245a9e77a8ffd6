"""`SCALEModule`: PPO with GAE plus the SRR terms, Lightning manual optimisation."""

from __future__ import annotations

import time

import lightning as L
import torch
from torch import nn

from scale_pl.algos.ppo import explained_variance, gae, ppo_losses, time_discounts
from scale_pl.algos.selection import SizeAwareSelection
from scale_pl.algos.validation import ValidationAcrossSizes
from scale_pl.baselines import HEURISTICS, make_heuristic
from scale_pl.data.rollout import Rollout
from scale_pl.errors import ScaleError
from scale_pl.losses.srr import SRRLoss
from scale_pl.models.policy import SCALEPolicy

try:  # LightningCLI hands the module its own config as hyperparameters (class paths included)
    from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
except ImportError:  # pragma: no cover
    _given_hyperparameters = None


class SCALEModule(ValidationAcrossSizes, L.LightningModule):
    """Trains a :class:`SCALEPolicy` with PPO (clipped surrogate, GAE, value and entropy terms) + SRR.

    Each training batch is one rollout (see :class:`~scale_pl.data.RolloutDataModule`); it is
    used for ``update_epochs`` passes of ``num_minibatches`` minibatches, stopped early when
    the approximate KL exceeds ``target_kl``. ``trainer.global_step`` therefore counts optimizer
    steps, not rollouts.

    The critic's loss is taken in its PopArt-normalised units and reaches only the critic (see
    :class:`~scale_pl.models.critic.Critic`); actor and critic gradients are clipped separately,
    so a large value error cannot shrink the policy's step either. The entropy bonus decays
    linearly from ``ent_coef`` to ``ent_coef_final`` over training, so that the policy being
    improved ends close to the greedy policy that is evaluated.

    Args:
        policy: the actor-critic.
        srr: structured representation regularisation on the attention feature z
            (weights 0 = the no-SRR ablation).
        lr: Adam learning rate, decayed linearly to ``lr * final_lr_fraction`` over training.
        final_lr_fraction: where the linear decay ends.
        gamma: discount per decision, used only when ``discount_horizon`` is None.
        discount_horizon: discount in time: ``exp(-dt / discount_horizon)`` between decisions
            ``dt`` seconds apart, the same horizon at every ``N`` (None = ``gamma`` per decision).
        gae_lambda: GAE lambda per decision, used only when ``gae_lambda_horizon`` is None.
        gae_lambda_horizon: GAE lambda in time: ``exp(-dt / gae_lambda_horizon)`` between
            decisions ``dt`` seconds apart, so that the advantage of an action gathers the same
            seconds of reward at every ``N`` (None = ``gae_lambda`` per decision).
        clip: PPO ratio clip.
        value_clip: clip of the value update around the old value (None = unclipped).
        vf_coef: value-loss weight.
        ent_coef: entropy-bonus weight at the start.
        ent_coef_final: entropy-bonus weight at the end of training (linear in between).
        update_epochs: passes over each rollout.
        num_minibatches: minibatches per pass.
        max_grad_norm: gradient-norm clip, applied to the actor's and the critic's parameters separately.
        target_kl: stop the passes over a rollout once approx_kl exceeds this (None = never).
        reference_policies: heuristics run once on the validation workloads, for reference.
        imitation_rollouts: a behaviour-cloning warm start: the first this many rollouts are
            acted by ``imitation_teacher`` and train the policy on its choices (cross-entropy;
            the critic learns the teacher's values), then PPO takes over (0 = PPO from the start).
        imitation_teacher: the heuristic imitated (``rank_eft``, ``eft``, ...).
        selection_window: validations averaged in the checkpoint-selection figure ``val/select``,
            the worst ratio of ART to EFT's over the validation sizes (see
            :class:`~scale_pl.algos.selection.SizeAwareSelection`; monitor it with ``mode: min``).
    """

    def __init__(
        self,
        policy: SCALEPolicy,
        srr: SRRLoss | None = None,
        lr: float = 3e-4,
        final_lr_fraction: float = 0.1,
        gamma: float = 0.99,
        discount_horizon: float | None = 40.0,
        gae_lambda: float = 0.95,
        gae_lambda_horizon: float | None = None,
        clip: float = 0.2,
        value_clip: float | None = None,
        vf_coef: float = 0.5,
        ent_coef: float = 0.01,
        ent_coef_final: float = 0.0,
        update_epochs: int = 4,
        num_minibatches: int = 4,
        max_grad_norm: float = 0.5,
        target_kl: float | None = 0.03,
        reference_policies: list[str] | None = None,
        imitation_rollouts: int = 0,
        imitation_teacher: str = "rank_eft",
        selection_window: int = 3,
    ) -> None:
        super().__init__()
        if not lr > 0:
            raise ScaleError(f"model.lr must be > 0, got {lr}")
        if not 0 < final_lr_fraction <= 1 or not 0 < gamma <= 1 or not 0 <= gae_lambda <= 1 or not clip > 0:
            raise ScaleError("model: need 0 < final_lr_fraction <= 1, 0 < gamma <= 1, 0 <= gae_lambda <= 1, clip > 0")
        if discount_horizon is not None and not discount_horizon > 0:
            raise ScaleError(f"model.discount_horizon must be > 0 seconds (or null), got {discount_horizon}")
        if gae_lambda_horizon is not None and not gae_lambda_horizon > 0:
            raise ScaleError(f"model.gae_lambda_horizon must be > 0 seconds (or null), got {gae_lambda_horizon}")
        if ent_coef < 0 or ent_coef_final < 0:
            raise ScaleError("model.ent_coef and model.ent_coef_final must be >= 0")
        if update_epochs < 1 or num_minibatches < 1 or not max_grad_norm > 0:
            raise ScaleError("model: update_epochs, num_minibatches must be >= 1 and max_grad_norm > 0")
        if selection_window < 1:
            raise ScaleError(f"model.selection_window must be >= 1, got {selection_window}")
        if imitation_rollouts < 0:
            raise ScaleError(f"model.imitation_rollouts must be >= 0, got {imitation_rollouts}")
        self._teacher = make_heuristic(imitation_teacher) if imitation_rollouts else None
        self.reference_policies = list(HEURISTICS if reference_policies is None else reference_policies)
        for name in self.reference_policies:
            make_heuristic(name)
        given = _given_hyperparameters.get() if _given_hyperparameters is not None else None
        self.save_hyperparameters(ignore=None if given else ["policy", "srr"])
        if given:
            # jsonargparse leaves link targets nested in a subclass out of the stored config; record the
            # built value so that `SCALEModule.load_from_checkpoint` can rebuild the policy.
            encoder = self.hparams["policy"]["init_args"]["dag_encoder"]
            encoder.setdefault("init_args", {})["in_dim"] = policy.dag_encoder.in_dim
        self.automatic_optimization = False
        self.policy = policy
        self.srr = srr if srr is not None else SRRLoss(0.0, 0.0)
        self.val_stats = nn.ModuleDict()
        self._references_logged: set[str] = set()
        self._eft_art: dict[tuple[str, int], float] = {}  # EFT's ART on the (phase, N) workloads
        self.selection = SizeAwareSelection(selection_window)
        self.selection_trained = SizeAwareSelection(selection_window)

    # -- optimisation ----------------------------------------------------------------------------
    def _total_rollouts(self) -> int:
        return max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer is not None else 1

    def entropy_coefficient(self, rollout: int) -> float:
        """The entropy-bonus weight at rollout ``rollout`` (0-based) of training."""
        hp = self.hparams
        fraction = min(rollout, self._total_rollouts()) / self._total_rollouts()
        return hp.ent_coef + (hp.ent_coef_final - hp.ent_coef) * fraction

    def teacher(self, rollout: int):
        """The heuristic that acts in rollout ``rollout`` (0-based over training), or None: the policy."""
        return self._teacher if rollout < self.hparams.imitation_rollouts else None

    def configure_optimizers(self):
        optimizer = adam(list(self.policy.parameters()), lr=self.hparams.lr, eps=1e-5)
        total = self._total_rollouts()
        end = self.hparams.final_lr_fraction

        def linear(rollout: int) -> float:
            return 1.0 - (1.0 - end) * min(rollout, total) / total

        return [optimizer], [torch.optim.lr_scheduler.LambdaLR(optimizer, linear)]

    def training_step(self, rollout: Rollout, batch_idx: int) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        hp = self.hparams
        discount = hp.gamma if hp.discount_horizon is None else time_discounts(rollout.dts, hp.discount_horizon)
        lam = hp.gae_lambda if hp.gae_lambda_horizon is None else time_discounts(rollout.dts, hp.gae_lambda_horizon)
        advantages, returns = gae(
            rollout.rewards, rollout.values, rollout.dones, rollout.last_value, discount, lam,
            bootstrap=rollout.bootstrap,
        )  # fmt: skip
        learn = rollout.learn.flatten()  # the heuristic warm-up steps stay out of every loss
        self._ent_coef = self.entropy_coefficient(batch_idx + self.current_epoch * self._rollouts_per_epoch())
        flat = {
            "rows": learn.nonzero().flatten(),
            "actions": rollout.actions.flatten()[learn],
            "log_probs": rollout.log_probs.flatten()[learn],
            "values": rollout.values.flatten()[learn],
            "advantages": advantages.flatten()[learn],
            "returns": returns.flatten()[learn],
        }
        if flat["actions"].numel() == 0:  # a rollout of warm-up steps only: nothing to learn from
            self.lr_schedulers().step()
            return
        self.policy.critic.update_statistics(flat["returns"])
        stats = self._update(rollout, flat)
        self.lr_schedulers().step()
        stats["explained_variance"] = explained_variance(flat["values"], flat["returns"])
        stats["reward"] = rollout.rewards[rollout.learn].mean()
        stats["learn_fraction"] = rollout.learn.float().mean()
        stats["update_s"] = torch.tensor(time.perf_counter() - t0)
        stats["update_cpu_s"] = torch.tensor(time.process_time() - c0)
        stats["rollout_s"] = torch.tensor(rollout.seconds)
        stats["rollout_cpu_s"] = torch.tensor(rollout.cpu_seconds)
        stats["learn_rows"] = torch.tensor(float(flat["actions"].numel()))
        stats["lr"] = torch.tensor(self.optimizers().param_groups[0]["lr"])
        stats["ent_coef"] = torch.tensor(self._ent_coef)
        stats["value_mu"] = self.policy.critic.mu.detach().clone()
        stats["value_sigma"] = self.policy.critic.sigma.detach().clone()
        if self.policy.prior is not None:  # the anchor's strength (learned with prior.learn_kappa)
            stats["prior_kappa"] = torch.as_tensor(self.policy.prior.kappa).detach().clone()
        self.log_dict({f"train/{k}": v.float() for k, v in stats.items()}, on_step=True, on_epoch=False)
        if rollout.episode_returns.numel():
            self.log("train/episode_return", rollout.episode_returns.mean(), prog_bar=True, on_step=True)
        if rollout.episode_art.numel():  # truncated episodes have no ART
            self.log("train/episode_art", rollout.episode_art.mean(), on_step=True)

    def _update(self, rollout: Rollout, flat: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``update_epochs`` passes of minibatch PPO + SRR steps; returns averaged diagnostics."""
        hp = self.hparams
        optimizer = self.optimizers()
        n = flat["actions"].shape[0]
        size = max(1, n // hp.num_minibatches)
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for _ in range(hp.update_epochs):
            order = torch.randperm(n, device=flat["actions"].device)
            for start in range(0, n - size + 1, size):
                idx = order[start : start + size]
                terms = self._minibatch_losses(rollout, flat, idx)
                optimizer.zero_grad()
                self.manual_backward(terms["loss"])
                terms["grad_norm_actor"] = nn.utils.clip_grad_norm_(self._actor_parameters(), hp.max_grad_norm)
                terms["grad_norm_critic"] = nn.utils.clip_grad_norm_(self.policy.critic.parameters(), hp.max_grad_norm)
                optimizer.step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v.detach()
                count += 1
            if hp.target_kl is not None and not rollout.imitation and float(terms["approx_kl"]) > hp.target_kl:
                break
        out = {k: v / count for k, v in sums.items()}
        out["minibatches"] = torch.tensor(float(count))
        return out

    def _actor_parameters(self) -> list[nn.Parameter]:
        critic = {id(p) for p in self.policy.critic.parameters()}
        return [p for p in self.policy.parameters() if id(p) not in critic]

    def _rollouts_per_epoch(self) -> int:
        batches = self.trainer.num_training_batches if self._trainer is not None else 1
        return int(batches) if batches != float("inf") else 1

    def _minibatch_losses(self, rollout: Rollout, flat: dict[str, torch.Tensor], idx: torch.Tensor) -> dict:
        hp = self.hparams
        log_prob, entropy, value, z = self.policy.evaluate(rollout.obs.index(flat["rows"][idx]), flat["actions"][idx])
        adv = flat["advantages"][idx]
        if adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        if rollout.imitation:  # behaviour cloning: the teacher's choices, no advantages
            adv = torch.zeros_like(adv)
        norm = self.policy.critic.normalise  # the value loss in PopArt units
        terms = ppo_losses(log_prob, flat["log_probs"][idx], adv, norm(value), norm(flat["values"][idx]),
                           norm(flat["returns"][idx]), entropy, hp.clip, hp.value_clip)  # fmt: skip
        srr_total, components = self.srr(z)
        ent_coef = getattr(self, "_ent_coef", hp.ent_coef)
        if rollout.imitation:
            terms["imitation_loss"] = -log_prob.mean()
            terms["loss"] = terms["imitation_loss"] + hp.vf_coef * terms["value_loss"] + srr_total
        else:
            terms["loss"] = (
                terms["policy_loss"] - ent_coef * terms["entropy"] + hp.vf_coef * terms["value_loss"] + srr_total
            )
        terms["srr"] = srr_total.detach()
        terms["srr_decorrelation"] = components["decorrelation"]
        terms["srr_kl"] = components["kl"]
        return terms


def adam(params: list[nn.Parameter], **kwargs) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has one for the parameters' device (one kernel for all
    parameters instead of a loop over them: a fifth of the optimizer step's time on the CPU)."""
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, **kwargs)
