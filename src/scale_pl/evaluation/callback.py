"""`FinalEvaluation`: after fit, the best checkpoint against the heuristics across N on test seeds."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import lightning as L
import torch

from scale_pl.baselines import HEURISTICS, make_heuristic
from scale_pl.errors import ScaleError
from scale_pl.evaluation.across_n import DEFAULT_CAP, Row, evaluate_across_n
from scale_pl.evaluation.plots import plot_art_vs_n
from scale_pl.evaluation.tables import (
    format_diagnostics_table,
    format_notes,
    format_pattern_table,
    format_table,
    format_z_table,
)
from scale_pl.models.policy import GreedyPolicy
from scale_pl.seeds import TEST_SEED_BASE


class FinalEvaluation(L.Callback):
    """Loads the best checkpoint's weights, evaluates the policy and the heuristics on the same seeded
    test workloads at each N, prints the markdown table and logs it (and ``final/N{n}/{method}_art``)
    to MLflow.

    Args:
        sizes: cluster sizes N.
        seeds: test workloads per N (seeds ``2_000_000 + i``, never used for training or selection).
        workflows_per_server: workflows per workload = this x N.
        heuristics: heuristic baselines to run beside the policy.
        cap: K of the censoring cap: a run certain to exceed K x EFT's ART on its workload stops and
            is reported as censored (0: no cap).
    """

    def __init__(
        self,
        sizes: list[int] | None = None,
        seeds: int = 4,
        workflows_per_server: int = 4,
        heuristics: list[str] | None = None,
        cap: float = DEFAULT_CAP,
    ) -> None:
        if cap < 0 or 0 < cap < 1:
            raise ScaleError(f"FinalEvaluation: cap must be 0 (off) or >= 1, got {cap}")
        self.sizes = list(sizes) if sizes is not None else [16, 32, 48]
        self.seeds, self.workflows_per_server = seeds, workflows_per_server
        self.heuristics = heuristics if heuristics is not None else list(HEURISTICS)
        self.cap = cap
        for name in self.heuristics:
            make_heuristic(name)
        self.table: str | None = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.interrupted:
            return
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        if best and Path(best).is_file():
            state = torch.load(best, map_location=pl_module.device, weights_only=False)["state_dict"]
            pl_module.load_state_dict(state)
        policies = {"scale": lambda: GreedyPolicy(pl_module.policy, record_features=True)}
        policies |= {name: (lambda name=name: make_heuristic(name)) for name in self.heuristics}
        dm = trainer.datamodule
        rows = evaluate_across_n(
            policies,
            dm.workload_config,
            dm.cluster_config,
            self.sizes,
            range(TEST_SEED_BASE, TEST_SEED_BASE + self.seeds),
            self.workflows_per_server,
            dm.rho,
            progress=lambda s: print(f"  final evaluation: {s}", flush=True),
            information=dm.information,
            cap=self.cap,
        )
        notes = format_notes(rows)
        self.table = format_table(rows) + (f"\n\n{notes}" if notes else "")
        patterns = format_pattern_table(rows)
        print(
            f"\nTest workloads ({self.seeds} per N), checkpoint {best or '(last weights)'}:\n{self.table}\n", flush=True
        )
        logger = trainer.logger
        if logger is not None:
            logger.log_metrics(final_metrics(rows))
            if hasattr(logger, "experiment") and hasattr(logger, "run_id"):
                with tempfile.TemporaryDirectory() as tmp:
                    table = Path(tmp) / "final_evaluation.md"
                    table.write_text(
                        f"{self.table}\n\nMean response time per DAG pattern:\n\n{patterns}\n\n"
                        f"Attention feature z:\n\n{format_z_table(rows)}\n\n"
                        f"Decision diagnostics:\n\n{format_diagnostics_table(rows) or '(none reported)'}\n"
                    )
                    plot = plot_art_vs_n(rows, Path(tmp) / "art_vs_n.png")
                    for path in (table, plot):
                        logger.experiment.log_artifact(logger.run_id, str(path))


def final_metrics(rows: list[Row]) -> dict[str, float]:
    """``final/N{n}/{method}_{art,p95,p99,slowdown,utilisation}``, ``final/N{n}/{method}_censored`` (the
    number of censored test workloads: where it is above 0 the response-time metrics are lower bounds
    and utilisation is left out), ``final/N{n}/{method}_z_{mean,std,kl,...}`` for learned policies,
    ``final_diag/N{n}/{method}/{key}`` (the policy's decision diagnostics) and
    ``final_pattern/N{n}/{method}/{pattern}_art``."""
    out = {}
    for r in rows:
        n = r.num_servers
        for key in ("art", "p95", "p99", "slowdown", "utilisation"):
            if not math.isnan(getattr(r, key)):
                out[f"final/N{n}/{r.method}_{key}"] = getattr(r, key)
        out[f"final/N{n}/{r.method}_censored"] = float(r.num_censored)
        for stat, value in r.z.items():
            out[f"final/N{n}/{r.method}_z_{stat}"] = value
        for key, value in r.diagnostics.items():
            out[f"final_diag/N{n}/{r.method}/{key}"] = value
        for pattern, art in r.pattern_art.items():
            out[f"final_pattern/N{n}/{r.method}/{pattern}_art"] = art
    return out
