"""Which of K trained seeds to recommend: the one whose chosen checkpoint is best on the selection rule.

    python study/recommend.py robust_s0 robust_s1 robust_s2 robust_s3 robust_s4 [--json rows.json]

NAME is an MLflow run name (study/runs.txt); the newest FINISHED run of that name is read. Each run's
checkpoint was chosen by ``val/select`` (the worst ratio of ART to EFT's over the validation sizes,
averaged over the last validations: ``scale_pl.algos.selection``); the same figure at its minimum
ranks the seeds, so that the recommendation, like the checkpoint, uses validation workloads only and
never a test number. Prints one row per run (the minimum, the epoch of it, the strict zero-shot
figure ``val/select_trained_sizes`` at that step) and the recommended run; ``--json`` also keeps
each run's whole ``val/select`` history. ``--previous FILE`` (an earlier ``--json``) supplies the rows of
runs trained in another session, whose MLflow store is not here.
"""

from __future__ import annotations

import argparse
import json
import sys

import mlflow

from scale_pl.tracking import EXPERIMENT, newest_finished_run_id, tracking_uri


def selection_rows(names: list[str], previous: dict[str, dict] | None = None) -> list[dict]:
    previous = previous or {}
    client = mlflow.MlflowClient(tracking_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise SystemExit(f"error: no MLflow experiment {EXPERIMENT!r} at {tracking_uri()}")
    rows = []
    for name in names:
        run_id = newest_finished_run_id(client, experiment.experiment_id, name)
        if run_id is None and name in previous:
            rows.append(previous[name])
            continue
        if run_id is None:
            raise SystemExit(f"error: no finished run named {name!r}")
        history = client.get_metric_history(run_id, "val/select")
        if not history:
            raise SystemExit(f"error: run {name!r} logged no val/select (trained before size-aware selection?)")
        best = min(history, key=lambda m: (m.value, m.step))
        zero_shot = {m.step: m.value for m in client.get_metric_history(run_id, "val/select_trained_sizes")}
        row = {"run": name, "run_id": run_id, "select": best.value, "step": best.step}
        history = {"history": [[m.step, m.value] for m in sorted(history, key=lambda m: m.step)]}
        rows.append(row | {"select_trained_sizes": zero_shot.get(best.step)} | history)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="MLflow run names, one per training seed")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--previous", help="an earlier --json: rows for runs not in this MLflow store")
    args = parser.parse_args(argv)
    previous = {}
    if args.previous:
        with open(args.previous) as f:
            previous = {row["run"]: row for row in json.load(f)["rows"]}
    rows = selection_rows(args.names, previous)
    print("| run | val/select (min) | at step | val/select_trained_sizes there |")
    print("|---|---:|---:|---:|")
    for row in rows:
        trained = "" if row["select_trained_sizes"] is None else f"{row['select_trained_sizes']:.3f}"
        print(f"| {row['run']} | {row['select']:.3f} | {row['step']} | {trained} |")
    best = min(rows, key=lambda r: (r["select"], r["run"]))
    print(f"\nrecommended: {best['run']} (lowest val/select, {best['select']:.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "recommended": best["run"]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
