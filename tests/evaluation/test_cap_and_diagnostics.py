"""`evaluate` with the censoring cap, policies sharing environments, and the policies' diagnostics."""

from __future__ import annotations

import json
import math

import pytest
import torch

from scale_pl.baselines import make_heuristic
from scale_pl.evaluation.across_n import Row, evaluate
from scale_pl.evaluation.callback import final_metrics
from scale_pl.evaluation.tables import format_diagnostics_table, format_table, rows_to_json
from scale_pl.sim.batched.batch import workload_batch
from scale_pl.sim.batched.censor import art_bound
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.batched.rollout import run_episode
from scale_pl.sim.generators.config import load_cluster_spec, load_generator

SEEDS = [11, 12, 13]


def setup(workflows: int = 16):
    return load_generator(None, num_workflows=workflows), load_cluster_spec(None)


class Slowest:
    """A deliberately terrible policy: the feasible server with the latest believed finish."""

    def reset(self, batch_size: int) -> None:
        pass

    def __call__(self, obs) -> torch.Tensor:
        return torch.where(obs.mask & torch.isfinite(obs.est_finish), obs.est_finish, -math.inf).argmax(1)


class Diagnosed:
    """EFT with a ``diagnostics()`` method, as GreedyPolicy(record_features=True) has: the share of its
    decisions with a single feasible server, and how many decisions it made since ``reset``."""

    def reset(self, batch_size: int) -> None:
        self.eft, self.decisions, self.single = make_heuristic("eft"), 0, 0
        self.eft.reset(batch_size)

    def __call__(self, obs) -> torch.Tensor:
        live = ~obs.done
        self.decisions += int(live.sum())
        self.single += int(((obs.mask.sum(1) == 1) & live).sum())
        return self.eft(obs)

    def diagnostics(self) -> dict[str, float]:
        return {"tie_share": self.single / self.decisions, "decisions": float(self.decisions)}


def test_a_terrible_policy_is_censored_and_never_counts_below_the_cap() -> None:
    generator, spec = setup()
    policies = {"eft": lambda: make_heuristic("eft"), "slowest": Slowest}
    eft, slow = evaluate(policies, generator, spec, [8], SEEDS, cap=3.0)
    assert eft.censored == [False] * 3 and eft.num_censored == 0
    assert slow.censored == [True] * 3 and slow.num_censored == 3 and slow.cap == 3.0
    for capped, reference in zip(slow.workload_art, eft.workload_art, strict=True):
        assert capped > 3.0 * reference  # the bound at the stop: above the cap, never below it
    assert slow.art == pytest.approx(sum(slow.workload_art) / 3)
    assert math.isnan(slow.utilisation)
    # uncapped, the same policy's ART is far higher than its bound: the bound is a lower bound
    (free,) = evaluate({"slowest": Slowest}, generator, spec, [8], SEEDS, cap=0)
    assert free.censored == [False] * 3 and free.art > slow.art
    assert all(f > b for f, b in zip(free.workload_art, slow.workload_art, strict=True))
    line = next(x for x in format_table([eft, slow]).splitlines() if "| slowest |" in x)
    assert "| > 3 x EFT |" in line and line.endswith("| 3/3 |")


def test_the_row_of_a_censored_run_is_its_bound_at_the_stop() -> None:
    """The row's per-workload ART equals art_bound of the environment at the decision the cap stopped it."""
    generator, spec = setup()
    (eft,) = evaluate({"eft": lambda: make_heuristic("eft")}, generator, spec, [8], SEEDS[:1], cap=0)
    (slow,) = evaluate({"slowest": Slowest}, generator, spec, [8], SEEDS[:1], cap=2.0)
    env = SchedulingEnv(workload_batch(generator, spec, 8, SEEDS[:1]))
    policy, obs = Slowest(), env.observe()
    while float(art_bound(env)[0]) <= 2.0 * eft.art:
        obs, _, _ = env.step(policy(obs))
    assert slow.workload_art == [pytest.approx(float(art_bound(env)[0]))]


def test_policies_sharing_an_environment_get_the_rows_they_get_alone() -> None:
    generator, spec = setup(workflows=8)
    names = ("least_loaded", "random", "round_robin", "rank_eft")
    together = evaluate({n: (lambda n=n: make_heuristic(n)) for n in names}, generator, spec, [4], SEEDS, cap=0)
    for row in together:
        (alone,) = evaluate({row.method: lambda m=row.method: make_heuristic(m)}, generator, spec, [4], SEEDS, cap=0)
        assert rows_to_json([row]) == rows_to_json([alone])
    assert len({r.art for r in together}) == len(names)  # four different policies, four results


def test_diagnostics_are_reported_per_n_in_the_table_json_and_mlflow_metrics() -> None:
    generator, spec = setup(workflows=8)
    rows = evaluate({"eft": lambda: make_heuristic("eft"), "diag": Diagnosed}, generator, spec, [4, 8], SEEDS[:2])
    by = {(r.method, r.num_servers): r for r in rows}
    assert by["eft", 4].diagnostics == {}
    for n in (4, 8):
        decisions = int(workload_batch(generator, spec, n, SEEDS[:2]).task_valid.sum())
        d = by["diag", n].diagnostics
        assert d["decisions"] == decisions  # one run per N: the counts are not mixed across N
        assert 0 <= d["tie_share"] <= 1
        assert by["diag", n].art == pytest.approx(by["eft", n].art)  # it places as EFT does
    table = format_diagnostics_table(rows).splitlines()
    assert table[0] == "| N | method | tie_share | decisions |"
    assert f"| 8 | diag | {by['diag', 8].diagnostics['tie_share']:.3f} |" in table[3]
    assert not any("| eft |" in line for line in table)
    assert (
        json.loads(json.dumps(rows_to_json(rows)))[1]["diagnostics"]["decisions"]
        == by["diag", 4].diagnostics["decisions"]
    )
    metrics = final_metrics(rows)
    assert metrics["final_diag/N8/diag/tie_share"] == by["diag", 8].diagnostics["tie_share"]
    assert metrics["final/N8/diag_censored"] == 0.0


def test_final_metrics_say_when_a_run_is_censored() -> None:
    row = Row("scale", 16, 120.0, 200.0, 210.0, 9.0, float("nan"), 5.0, workload_art=[150.0, 90.0],
              censored=[True, False], cap=10.0)  # fmt: skip
    metrics = final_metrics([row])
    assert metrics["final/N16/scale_censored"] == 1.0 and metrics["final/N16/scale_art"] == 120.0
    assert "final/N16/scale_utilisation" not in metrics  # unknown for a censored run: not logged as a number
    assert rows_to_json([row])[0]["utilisation"] is None
    assert math.isnan(Row(**rows_to_json([row])[0]).utilisation)


def test_a_lookahead_runs_alone_beside_shared_policies() -> None:
    generator, spec = setup(workflows=4)
    policies = {n: (lambda n=n: make_heuristic(n)) for n in ("eft", "least_loaded", "lookahead:2", "rank_eft")}
    rows = evaluate(policies, generator, spec, [4], SEEDS[:1])
    assert [r.method for r in rows] == list(policies)
    env = SchedulingEnv(workload_batch(generator, spec, 4, SEEDS[:1]))
    run_episode(env, make_heuristic("lookahead:2"))
    assert rows[2].art == pytest.approx(float(env.metrics()["art"][0]))


def test_only_heuristics_share_an_environment() -> None:
    """A learned (or any other) policy runs alone: one that collapses would grow the queue table, and the
    cost of every step, for whatever shares its environment."""
    from scale_pl.evaluation.across_n import _packs

    names = ("least_loaded", "random", "lookahead:2", "round_robin", "rank_eft")
    policies = {n: (lambda n=n: make_heuristic(n)) for n in names} | {"learned": Slowest, "diag": Diagnosed}
    packs = [[name for name, _ in pack] for pack in _packs(policies, size=16)]
    assert packs == [["least_loaded", "random"], ["lookahead:2"], ["round_robin", "rank_eft"], ["learned"], ["diag"]]
    assert [[n for n, _ in p] for p in _packs(policies, size=64)] == [[n] for n in policies]  # 64 rows: full


@pytest.mark.parametrize("cap", [0.5, -1.0])
def test_final_evaluation_refuses_a_cap_below_one(cap: float) -> None:
    from scale_pl.errors import ScaleError
    from scale_pl.evaluation.callback import FinalEvaluation

    with pytest.raises(ScaleError, match="cap must be 0"):
        FinalEvaluation(cap=cap)
    assert FinalEvaluation(cap=0).cap == 0 and FinalEvaluation().cap == 10.0
