"""Statistics over runs (training seeds): the interquartile mean and a stratified-bootstrap 95% interval.

Following rliable (Agarwal et al., "Deep RL at the edge of the statistical precipice", 2021): the
interquartile mean (IQM) is the mean of the middle 50% of the scores (``scipy.stats.trim_mean``
with 25% cut at each end: ``int(0.25 n)`` values), robust to one collapsed seed yet using more of
the data than the median. The interval is the percentile bootstrap of the IQM, *stratified*: with
scores ``[R runs, S strata]`` (strata: the test workloads) each stratum's runs are resampled on
their own, so every resample still holds every workload once per run. 10,000 resamples from a
fixed seed: a table is reproducible to the last digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000


class Summary(NamedTuple):
    """IQM of the scores and its interval (``low`` = ``high`` = NaN for a single run)."""

    iqm: float
    low: float
    high: float


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean of all entries: the mean after cutting ``int(0.25 n)`` from each end."""
    flat = np.asarray(values, dtype=float).ravel()
    if flat.size == 0:
        raise ValueError("iqm of no values")
    return float(stats.trim_mean(flat, 0.25))


def _iqm_of_strata(*strata: np.ndarray, axis: int = -1) -> np.ndarray:
    """The IQM of the strata pooled (vectorised: each stratum ``[..., R]``, resamples in front)."""
    return stats.trim_mean(np.concatenate(strata, axis=axis), 0.25, axis=axis)


def iqm_interval(
    scores: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0
) -> Summary:
    """IQM and stratified percentile-bootstrap interval of ``scores``.

    Args:
        scores: ``[R]`` one score per run, or ``[R, S]`` runs x strata (each column resampled alone).
        confidence: the interval's coverage.
        resamples: bootstrap resamples.
        seed: the resampling's random seed.
    """
    table = np.asarray(scores, dtype=float)
    table = table[:, None] if table.ndim == 1 else table
    if table.ndim != 2 or table.size == 0:
        raise ValueError(f"scores must be [R] or [R, S] with R, S >= 1, got shape {np.shape(scores)}")
    centre = iqm(table)
    if table.shape[0] < 2:
        return Summary(centre, float("nan"), float("nan"))
    result = stats.bootstrap(
        tuple(table.T),
        _iqm_of_strata,
        n_resamples=resamples,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return Summary(centre, float(low), float(high))


def mean(values: Sequence[float]) -> float:
    """The plain mean (a one-line helper for the tables)."""
    return float(np.mean(np.asarray(values, dtype=float)))
