"""Hand-written schedulers that run in both simulators."""

from scale_pl.baselines.heuristics import (
    EarliestFinishTime,
    LeastLoaded,
    Policy,
    RandomPolicy,
    RankAwareEFT,
    ReplayPolicy,
    RoundRobin,
)
from scale_pl.baselines.registry import HEURISTICS, make_heuristic

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
