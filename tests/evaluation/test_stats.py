"""The interquartile mean and the stratified-bootstrap interval, against values computed by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from scale_pl.evaluation.stats import iqm, iqm_interval


def test_iqm_cuts_a_quarter_at_each_end() -> None:
    assert iqm([10.0, 1.0, 3.0, 2.0, 50.0]) == 5.0  # n=5: cut 1 each end -> mean(2, 3, 10)
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == 4.5  # n=8: cut 2 each end -> mean(3, 4, 5, 6)
    assert iqm([9.0, 10.0, 11.0]) == 10.0  # n=3: int(0.75) = 0 cut: the mean
    assert iqm([[1.0, 100.0], [2.0, 3.0]]) == 2.5  # every entry of a table: mean(2, 3)
    with pytest.raises(ValueError):
        iqm([])


def exact_quantiles(strata: list[list[float]], qs: tuple[float, ...]) -> tuple[list[float], float]:
    """Quantiles of the IQM over every equally likely stratified resample, and the smallest distance
    of a quantile level from a jump of the (discrete) distribution function."""
    per_stratum = [list(itertools.product(s, repeat=len(s))) for s in strata]
    values = np.sort([iqm(np.concatenate(parts)) for parts in itertools.product(*per_stratum)])
    atoms, counts = np.unique(values, return_counts=True)
    cdf = np.cumsum(counts) / len(values)
    out = [float(atoms[np.searchsorted(cdf, q)]) for q in qs]
    margin = min(float(np.min(np.abs(cdf - q))) for q in qs)
    return out, margin


@pytest.mark.parametrize(
    "strata",
    [
        [[1.0, 2.0, 3.0, 10.0]],  # one stratum: the ordinary bootstrap over 4 runs (256 resamples)
        [[1.0, 2.0, 8.0], [3.0, 5.0, 7.0]],  # 2 workloads x 3 runs: each column resampled alone (729)
    ],
)
def test_interval_is_the_percentile_bootstrap_of_the_iqm(strata: list[list[float]]) -> None:
    """With 40,000 resamples the percentile endpoints land on the exact distribution's quantiles
    (each level is at least 0.004 away from a jump: 5 standard errors of the resampled frequency)."""
    (low, high), margin = exact_quantiles(strata, (0.025, 0.975))
    assert margin > 0.004
    scores = np.array(strata).T  # [runs, strata]
    summary = iqm_interval(scores[:, 0] if len(strata) == 1 else scores, resamples=40_000)
    assert summary.iqm == iqm(scores)
    assert (summary.low, summary.high) == (pytest.approx(low), pytest.approx(high))


def test_stratified_and_pooled_resampling_differ() -> None:
    """Pooling the 2 x 3 table into 6 runs of one stratum resamples differently (a wider interval here:
    a resample may drop every value of one workload)."""
    table = np.array([[1.0, 4.0], [2.0, 5.0], [9.0, 6.0]])
    stratified = iqm_interval(table)
    pooled = iqm_interval(table.ravel())
    assert stratified.iqm == pooled.iqm
    assert pooled.high - pooled.low > stratified.high - stratified.low


def test_a_single_run_has_no_interval_and_equal_runs_a_point() -> None:
    single = iqm_interval([7.0])
    assert single.iqm == 7.0 and math.isnan(single.low) and math.isnan(single.high)
    assert tuple(iqm_interval([5.0, 5.0, 5.0])) == (5.0, 5.0, 5.0)
    with pytest.raises(ValueError):
        iqm_interval(np.zeros((2, 2, 2)))
