"""The heuristics by name: what ``--policy``, ``--heuristics`` and configs accept."""

from __future__ import annotations

from scale_pl.baselines.heuristics import (
    EarliestFinishTime,
    LeastLoaded,
    Policy,
    RandomPolicy,
    RankAwareEFT,
    RoundRobin,
)
from scale_pl.baselines.lookahead import Lookahead
from scale_pl.errors import ScaleError

HEURISTICS = {
    "random": RandomPolicy,
    "round_robin": RoundRobin,
    "least_loaded": LeastLoaded,
    "eft": EarliestFinishTime,
    "rank_eft": RankAwareEFT,
}
SEARCH_POLICIES = ("lookahead",)  # evaluation-only references, built by make_heuristic


def make_heuristic(name: str, seed: int = 0) -> Policy:
    """A heuristic by name; a clear error for an unknown one."""
    if name == "lookahead" or name.startswith("lookahead:"):
        horizon = name.partition(":")[2]
        if horizon and not horizon.isdigit():
            raise ScaleError(f"{name!r}: the lookahead horizon must be a whole number, as in lookahead:10")
        return Lookahead(int(horizon)) if horizon else Lookahead()
    if name not in HEURISTICS:
        raise ScaleError(f"unknown policy {name!r} (heuristics: {', '.join(HEURISTICS)}, lookahead[:H])")
    return RandomPolicy(seed) if name == "random" else HEURISTICS[name]()
