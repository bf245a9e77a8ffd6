"""Hand-written schedulers that run in both simulators."""

from scale_pl.baselines.heuristics import (
    HEURISTICS,
    EarliestFinishTime,
    LeastLoaded,
    Policy,
    RandomPolicy,
    RankAwareEFT,
    ReplayPolicy,
    RoundRobin,
    make_heuristic,
)

__all__ = [
    "HEURISTICS",
    "EarliestFinishTime",
    "LeastLoaded",
    "Policy",
    "RandomPolicy",
    "RankAwareEFT",
    "ReplayPolicy",
    "RoundRobin",
    "make_heuristic",
]
