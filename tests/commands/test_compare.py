"""`python -m scale_pl compare` on runs written to a temporary sqlite MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow

from scale_pl.__main__ import main
from scale_pl.evaluation.stats import iqm_interval


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


def test_compare_prints_mean_interval_and_ratio(tmp_path: Path, capsys) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    make_runs(uri)
    assert main(["compare", "--experiment", "cmp", "--tracking-uri", uri, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| scale[GINEncoder, srr on]"))
    n16, n32 = iqm_interval([10.0, 11.0, 12.0]), iqm_interval([12.0, 13.0, 14.0])
    assert n16.iqm == 11.0 and n32.iqm == 13.0  # 3 runs: nothing cut
    cells = f"{n16.iqm:.2f} [{n16.low:.2f}, {n16.high:.2f}] | {n32.iqm:.2f} [{n32.low:.2f}, {n32.high:.2f}]"
    assert f"| 3 | {cells} | {11 / 12.5:.3f} | {13 / 13:.3f} |" in row
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


def test_a_censored_run_makes_its_method_a_lower_bound_at_that_n() -> None:
    from types import SimpleNamespace

    from scale_pl.evaluation.compare import collect, markdown

    def run(metrics: dict[str, float], seed: int) -> SimpleNamespace:
        tags = {"encoder": "GINEncoder", "srr": "on", "train_sizes": "16", "seed": str(seed)}
        return SimpleNamespace(data=SimpleNamespace(tags=tags, metrics=metrics))

    runs = [
        run({"final/N16/scale_art": 10.0, "final/N32/scale_art": 12.0, "final/N32/scale_censored": 0.0,
             "final/N16/eft_art": 10.0, "final/N32/eft_art": 12.0, "final/N32/eft_censored": 0.0}, 0),
        run({"final/N16/scale_art": 11.0, "final/N32/scale_art": 130.0, "final/N32/scale_censored": 2.0}, 1),
    ]  # fmt: skip
    stats = collect(runs)
    label = "scale[GINEncoder, srr on]"
    assert dict(stats[label].censored) == {32: 1} and not stats["eft"].censored.get(32)
    table = markdown(stats)
    row = next(line for line in table.splitlines() if line.startswith(f"| {label}"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    n16 = iqm_interval([10.0, 11.0])
    assert cells[2] == f"{n16.iqm:.2f} [{n16.low:.2f}, {n16.high:.2f}]" and cells[3].startswith("> 71.00 [")
    assert cells[4] == f"{10.5 / 10:.3f}" and cells[5] == f"> {71 / 12:.3f}"
