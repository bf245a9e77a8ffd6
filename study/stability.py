"""Training stability of finished study runs: best and final greedy validation ART at N=16.

    python study/stability.py scale_s0 scale_s1 ... [--metric val/N16/art] [--out study/out/stability.md]

For each MLflow run name (the newest FINISHED run of that name), prints the validation ART at every
validation, the best and the last, and last / best - 1. The target of issue 11: no run's final
validation ART more than 5% above its best.
"""

from __future__ import annotations

import argparse
import sys

import mlflow

from scale_pl.io.atomic import write_text_atomic
from scale_pl.tracking import EXPERIMENT, newest_finished_run_id, tracking_uri


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--metric", default="val/N16/art")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    client = mlflow.MlflowClient(tracking_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        print(f"error: no MLflow experiment {EXPERIMENT!r} in {tracking_uri()}", file=sys.stderr)
        return 2
    lines = [
        f"| run | {args.metric} at each validation | best | final | final / best - 1 | sampled, final |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in args.names:
        run_id = newest_finished_run_id(client, experiment.experiment_id, name)
        if run_id is None:
            print(f"error: no finished run named {name!r}", file=sys.stderr)
            return 2
        values = [m.value for m in sorted(client.get_metric_history(run_id, args.metric), key=lambda m: m.step)]
        sampled = sorted(client.get_metric_history(run_id, args.metric + "_sampled"), key=lambda m: m.step)
        best, final = min(values), values[-1]
        trace = ", ".join(f"{v:.2f}" for v in values)
        last_sampled = f"{sampled[-1].value:.2f}" if sampled else "-"
        drift = 100 * (final / best - 1)
        lines.append(f"| {name} | {trace} | {best:.2f} | {final:.2f} | {drift:+.1f}% | {last_sampled} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        write_text_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
