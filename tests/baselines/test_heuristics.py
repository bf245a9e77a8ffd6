"""Each heuristic's choice on hand-made observations."""

from __future__ import annotations

import pytest
import torch

from scale_pl.baselines import EarliestFinishTime, LeastLoaded, RandomPolicy, RankAwareEFT, RoundRobin, make_heuristic
from scale_pl.errors import ScaleError
from scale_pl.sim.system.observation import Observation

INF = float("inf")


def obs(mask, est_finish, backlog=None, speed=None, slack=0.0) -> Observation:
    mask = torch.tensor([mask])
    n = mask.shape[1]
    row = lambda v, d: torch.tensor([v if v is not None else [d] * n], dtype=torch.float64)  # noqa: E731
    return Observation(
        task=None, nodes=None, node_mask=None, edges=None, edge_mask=None, current=None, servers=None, system=None,
        mask=mask, est_finish=row(est_finish, 0.0), backlog=row(backlog, 0.0), speed=row(speed, 1.0),
        transfer=row(None, 0.0), bottom_level=torch.tensor([1.0]), slack=torch.tensor([slack]),
        done=torch.tensor([False]),
    )  # fmt: skip


def test_eft_takes_the_earliest_feasible_finish_lowest_index_on_ties() -> None:
    o = obs([True, False, True, True], [5.0, 1.0, 3.0, 3.0])
    assert EarliestFinishTime()(o).item() == 2


def test_least_loaded_takes_the_smallest_backlog_then_the_earliest_finish() -> None:
    o = obs([True, True, True, False], [9.0, 4.0, 6.0, 0.0], backlog=[0.0, 0.0, 2.0, 0.0])
    assert LeastLoaded()(o).item() == 1


def test_round_robin_cycles_over_feasible_servers() -> None:
    policy = RoundRobin()
    policy.reset(1)
    o = obs([True, False, True, True], [0.0] * 4)
    assert [policy(o).item() for _ in range(5)] == [0, 2, 3, 0, 2]


def test_random_is_seeded_and_only_feasible() -> None:
    o = obs([False, True, False, True, True], [0.0] * 5)
    a = RandomPolicy(seed=3)
    draws = [a(o).item() for _ in range(200)]
    assert set(draws) == {1, 3, 4}
    a.reset(1)
    assert [a(o).item() for _ in range(200)] == draws


def test_rank_aware_eft_spends_slack_on_a_slower_server() -> None:
    # best EFT 2.0 on the fast server 0; server 2 (speed 0.5) finishes at 2.8, server 1 at 4.0
    args = ([True, True, True], [2.0, 4.0, 2.8])
    speeds = [2.0, 1.0, 0.5]
    assert RankAwareEFT(0.5)(obs(*args, speed=speeds, slack=0.0)).item() == 0  # critical: plain EFT
    assert RankAwareEFT(0.5)(obs(*args, speed=speeds, slack=2.0)).item() == 2  # window 1.0: servers 0, 2
    assert RankAwareEFT(0.5)(obs(*args, speed=speeds, slack=1.0)).item() == 0  # window 0.5: only server 0
    assert RankAwareEFT(0.0)(obs(*args, speed=speeds, slack=9.0)).item() == 0


def test_unknown_heuristic_is_a_clear_error() -> None:
    with pytest.raises(ScaleError, match="unknown policy 'eftt'"):
        make_heuristic("eftt")
