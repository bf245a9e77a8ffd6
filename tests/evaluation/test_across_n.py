"""Evaluation across N: identical workloads per method, table ratios, torchmetrics aggregation, plots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scale_pl.baselines import make_heuristic
from scale_pl.evaluation.across_n import Row, evaluate_across_n, format_table
from scale_pl.evaluation.metrics import ResponseTimeStats
from scale_pl.evaluation.plots import plot_art_vs_n


def test_every_method_sees_the_same_workloads_and_ratios_are_to_eft() -> None:
    policies = {name: (lambda name=name: make_heuristic(name)) for name in ("eft", "least_loaded")}
    rows = evaluate_across_n(policies, None, None, sizes=[4, 8], seeds=[1, 2], workflows_per_server=2)
    assert [(r.method, r.num_servers) for r in rows] == [
        ("eft", 4),
        ("least_loaded", 4),
        ("eft", 8),
        ("least_loaded", 8),
    ]
    for n in (4, 8):
        lbs = {r.lower_bound for r in rows if r.num_servers == n}
        assert len(lbs) == 1  # same workloads -> same critical-path bound
    table = format_table(rows)
    eft8 = next(r for r in rows if r.method == "eft" and r.num_servers == 8)
    ll8 = next(r for r in rows if r.method == "least_loaded" and r.num_servers == 8)
    assert f"| 8 | least_loaded | {ll8.art:.2f} |" in table
    assert f"{ll8.art / eft8.art:.3f}" in table and f"{eft8.art / eft8.lower_bound:.3f}" in table


def test_response_time_stats_match_numpy_and_drop_padding() -> None:
    metric = ResponseTimeStats()
    rt = torch.tensor([[1.0, 2.0, float("nan")], [4.0, 8.0, 16.0]], dtype=torch.float64)
    metric.update(rt[:1], rt[:1] / 2)
    metric.update(rt[1:], rt[1:] / 4)
    out = metric.compute()
    values = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    assert out["art"].item() == pytest.approx(values.mean())
    assert out["p95"].item() == pytest.approx(np.percentile(values, 95))
    assert out["p99"].item() == pytest.approx(np.percentile(values, 99))
    assert out["slowdown"].item() == pytest.approx(np.mean([0.5, 1.0, 1.0, 2.0, 4.0]))


def test_art_plot_is_written(tmp_path) -> None:
    rows = [Row(m, n, art, art, art, 1.0, 0.5, 5.0) for m, art in (("eft", 10.0), ("scale", 9.0)) for n in (16, 32)]
    path = plot_art_vs_n(rows, tmp_path / "art.png")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"
