"""`python -m scale_pl compare` on runs written to a temporary sqlite MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from scale_pl.__main__ import main
from scale_pl.evaluation.stats import interval


def make_runs(uri: str) -> None:
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment(
        "cmp", artifact_location=(Path(uri.removeprefix("sqlite:///")).parent / "art").as_uri()
    )
    for seed, (art16, art32) in enumerate([(10.0, 12.0), (11.0, 13.0), (12.0, 14.0)]):
        run = client.create_run(
            exp, tags={"encoder": "GINEncoder", "srr": "on", "train_sizes": "16", "seed": str(seed)}
        )
        metrics = {"final/N16/scale_art": art16, "final/N32/scale_art": art32, "final/N16/eft_art": 12.5}
        metrics |= {"final/N32/eft_art": 13.0, "val/N32/z_kl": 0.5 + seed}
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id, "FINISHED")
    unfinished = client.create_run(exp, tags={"encoder": "GCNEncoder", "srr": "off"})
    client.log_metric(unfinished.info.run_id, "final/N16/scale_art", 1.0)  # RUNNING: left out


def test_interval_is_a_t_interval() -> None:
    mean, half = interval([10.0, 11.0, 12.0])
    assert mean == 11.0 and half == pytest.approx(4.303 * 1.0 / 3**0.5)
    assert interval([5.0]) == (5.0, 0.0)


def test_compare_prints_mean_interval_and_ratio(tmp_path: Path, capsys) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    make_runs(uri)
    assert main(["compare", "--experiment", "cmp", "--tracking-uri", uri, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| scale[GINEncoder, srr on]"))
    half = 4.303 / 3**0.5
    assert f"| 3 | 11.00 ± {half:.2f} | 13.00 ± {half:.2f} | {11 / 12.5:.3f} | {13 / 13:.3f} |" in row
    assert "GCNEncoder" not in out
    assert "| eft | - | 12.50 | 13.00 | 1.000 | 1.000 |" in out
    for name in ("art_vs_n.png", "z_stats_vs_n.png", "table.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_compare_unknown_experiment_is_one_line(tmp_path: Path, capsys) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    make_runs(uri)
    assert main(["compare", "--experiment", "nope", "--tracking-uri", uri]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err


def test_z_statistics_come_from_the_final_evaluation_when_a_run_has_them() -> None:
    from types import SimpleNamespace

    from scale_pl.evaluation.compare import collect

    def run(metrics: dict[str, float]) -> SimpleNamespace:
        tags = {"encoder": "GINEncoder", "srr": "on", "train_sizes": "16"}
        return SimpleNamespace(data=SimpleNamespace(tags=tags, metrics={"final/N16/scale_art": 10.0, **metrics}))

    with_final = run({"val/N16/z_kl": 9.0, "final/N16/scale_z_kl": 1.0, "final/N128/scale_z_kl": 3.0})
    validation_only = run({"val/N16/z_kl": 2.0, "val/N32/z_kl": 4.0})
    (stats,) = collect([with_final, validation_only]).values()
    assert {n: sorted(v) for n, v in stats.z["kl"].items()} == {16: [1.0, 2.0], 32: [4.0], 128: [3.0]}


def test_method_label_separates_variants_and_training_sizes() -> None:
    from scale_pl.evaluation.compare import method_label

    base = {"config": "scale", "encoder": "GCNEncoder", "srr": "on", "train_sizes": "16"}
    assert method_label(base) == "scale[scale, GCNEncoder, srr on]"
    assert method_label(base | {"variant": "layernorm"}) == "scale[scale, GCNEncoder, srr on, layernorm]"
    assert method_label(base | {"train_sizes": "16,32"}) == "scale[scale, GCNEncoder, srr on, N=16,32]"
