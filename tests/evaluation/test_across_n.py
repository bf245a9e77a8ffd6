"""Evaluation across N: identical workloads per method, table ratios, torchmetrics aggregation, plots."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from scale_pl.baselines import make_heuristic
from scale_pl.errors import ScaleError
from scale_pl.evaluation.across_n import Row, evaluate, evaluate_across_n
from scale_pl.evaluation.metrics import ResponseTimeStats
from scale_pl.evaluation.plots import plot_art_vs_n
from scale_pl.evaluation.stats import iqm_interval
from scale_pl.evaluation.tables import format_notes, format_pattern_table, format_table, format_z_table
from scale_pl.sim.batched.batch import workload_batch
from scale_pl.sim.generators.generator import workloads


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
    rows.append(Row("collapsed", 32, 120.0, 200.0, 210.0, 9.0, float("nan"), 5.0, censored=[True]))  # a lower bound
    path = plot_art_vs_n(rows, tmp_path / "art.png")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"


def test_pattern_breakdown_pools_to_the_overall_art() -> None:
    """Every workload has the same number of workflows, so the count-weighted pattern means are the ART."""
    from scale_pl.sim.generators.config import load_cluster_spec, load_generator

    generator, spec = load_generator(None, num_workflows=16), load_cluster_spec(None)
    pairs = workloads(generator, spec, 8, [3, 4])
    counts = Counter(wf.pattern for wl, _ in pairs for wf in wl.workflows)
    (row,) = evaluate({"eft": lambda: make_heuristic("eft")}, generator, spec, [8], [3, 4])
    assert set(row.pattern_art) == set(counts) and len(counts) > 2
    pooled = sum(counts[p] * art for p, art in row.pattern_art.items()) / sum(counts.values())
    assert pooled == pytest.approx(row.art, rel=1e-9)


def test_runs_of_one_method_are_summarised_with_the_iqm_and_a_stratified_interval() -> None:
    """3 runs x 2 test workloads: the ART cell is the IQM of the 6 per-workload values with its interval,
    the ratio cell the IQM of the per-workload ratios to EFT's ART on the same workload."""
    eft = Row("eft", 16, 10.0, 20.0, 30.0, 2.0, 0.5, 5.0, pattern_art={"rag": 4.0, "react": 8.0},
              workload_art=[8.0, 12.0], censored=[False, False])  # fmt: skip
    per_run = [[7.0, 11.0], [8.0, 12.0], [9.0, 13.0]]

    def run(i: int, w: list[float]) -> Row:
        return Row(f"s{i}", 16, sum(w) / 2, 18.0, 28.0, 1.8, 0.6, 5.0, group="scale",
                   pattern_art={"rag": sum(w) / 4, "react": 6.0}, workload_art=w, censored=[False, False])  # fmt: skip

    rows = [eft] + [run(i, w) for i, w in enumerate(per_run)]
    table = format_table(rows)
    art = iqm_interval(np.array(per_run))
    ratio = iqm_interval(np.array(per_run) / np.array([8.0, 12.0]))
    assert art.iqm == 10.0  # n=6: cut 1 at each end -> mean(8, 9, 11, 12)
    # ratios 7/8, 8/8, 9/8, 11/12, 12/12, 13/12: cut 7/8 and 9/8 -> mean(11/12, 1, 1, 13/12)
    assert ratio.iqm == pytest.approx((11 / 12 + 1 + 1 + 13 / 12) / 4)
    assert art.low < art.iqm < art.high and ratio.low < ratio.iqm < ratio.high
    assert (
        f"| 16 | scale | {art.iqm:.2f} [{art.low:.2f}, {art.high:.2f}] | 18.00 | 28.00 | 1.80 | 0.600 | "
        f"{ratio.iqm:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] | 2.000 | 3 | 0/6 |"
    ) in table
    assert "| 16 | eft | 10.00 | 20.00 | 30.00 | 2.00 | 0.500 | 1.000 | 2.000 | 1 | 0/2 |" in table
    assert "interquartile mean" in format_notes(rows) and "censored" not in format_notes(rows)
    patterns = format_pattern_table(rows)
    assert "| N | method | rag | react |" in patterns
    assert "| 16 | scale | 5.00 (1.25) | 6.00 (0.75) |" in patterns  # rag: mean(4.5, 5, 5.5) / 4


def test_rows_without_per_workload_values_fall_back_to_the_runs() -> None:
    """Rows read from older JSON (no ``workload_art``): one score per run."""
    rows = [Row("eft", 16, 10.0, 20.0, 30.0, 2.0, 0.5, 5.0)]
    rows += [Row(f"s{i}", 16, art, 18.0, 28.0, 1.8, 0.6, 5.0, group="scale") for i, art in enumerate((9.0, 10.0, 12.0))]
    art, ratio = iqm_interval([9.0, 10.0, 12.0]), iqm_interval([0.9, 1.0, 1.2])
    line = next(x for x in format_table(rows).splitlines() if "| scale |" in x)
    assert line.startswith(f"| 16 | scale | {art.iqm:.2f} [{art.low:.2f}, {art.high:.2f}] |")
    assert f"| {ratio.iqm:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] |" in line and line.endswith("| 3 | - |")


def test_censored_runs_are_lower_bounds_in_the_table() -> None:
    eft = Row("eft", 16, 10.0, 20.0, 30.0, 2.0, 0.5, 5.0, pattern_art={"rag": 5.0}, workload_art=[8.0, 12.0],
              censored=[False, False], cap=10)  # fmt: skip
    some = Row("ll", 16, 60.0, 90.0, 95.0, 9.0, float("nan"), 5.0, pattern_art={"rag": 50.0}, workload_art=[81.0, 39.0],
               censored=[True, False], cap=10)  # fmt: skip
    every = Row("rr", 16, 101.0, 150.0, 160.0, 20.0, float("nan"), 5.0, workload_art=[81.0, 121.0],
                censored=[True, True], cap=10)  # fmt: skip
    table = format_table([eft, some, every])
    assert "| 16 | ll | > 60.00 | > 90.00 | > 95.00 | > 9.00 | - | > 6.000 | > 12.000 | 1 | 1/2 |" in table
    assert "| 16 | rr | > 101.00 | > 150.00 | > 160.00 | > 20.00 | - | > 10 x EFT | > 20.200 | 1 | 2/2 |" in table
    assert some.num_censored == 1 and every.num_censored == 2
    notes = format_notes([eft, some, every])
    assert "3 of 6 runs were censored" in notes and "10 x EFT's ART" in notes
    # ratios to another method: the cap is still K x EFT, so the ratio cell is a plain lower bound
    other = format_table([some, every], reference="ll")
    assert f"| > {101 / 60:.3f} | " in other and "x LL" not in other
    assert "10 x EFT's ART" in format_notes([some, every], reference="ll")
    assert "| 16 | ll | > 50.00 (10.00) |" in format_pattern_table([eft, some, every])


def test_lookahead_horizon_is_parsed_and_checked() -> None:
    assert make_heuristic("lookahead:3").horizon == 3
    assert make_heuristic("lookahead").horizon == 10
    for bad in ("lookahead:x", "lookahead:-1", "lookahed"):
        with pytest.raises(ScaleError, match="lookahead"):
            make_heuristic(bad)


def test_z_statistics_of_a_learned_policy_are_reported_per_n() -> None:
    from scale_pl.losses.srr import feature_stats
    from scale_pl.models.policy import GreedyPolicy, build_policy
    from scale_pl.sim.batched.env import SchedulingEnv
    from scale_pl.sim.batched.rollout import run_episode
    from scale_pl.sim.generators.config import load_cluster_spec, load_generator

    generator, spec = load_generator(None, num_workflows=8), load_cluster_spec(None)
    torch.manual_seed(0)
    greedy = GreedyPolicy(build_policy(len(generator.catalogue), 4, embed_dim=8, hidden_dim=16), record_features=True)
    rows = evaluate({"scale": lambda: greedy, "eft": lambda: make_heuristic("eft")}, generator, spec, [4, 8], [1])
    assert [bool(r.z) for r in rows] == [True, False, True, False]
    # the same statistics by hand: every live decision's z of a fresh episode at N=8
    env = SchedulingEnv(workload_batch(generator, spec, 8, [1]))
    run_episode(env, greedy)
    decisions = sum(int(t.shape[0]) for t in greedy.features)
    assert decisions == int(env.batch.task_valid.sum())  # one z per scheduled task
    assert rows[2].z == pytest.approx(feature_stats(torch.cat(greedy.features)))
    table = format_z_table(rows)
    assert f"| 8 | scale | {rows[2].z['mean']:.3f} | {rows[2].z['std']:.3f} |" in table and "| eft |" not in table
