"""Copy the best checkpoint of each finished study run into pretrained/NAME.ckpt, without optimizer state.

    python study/export_checkpoints.py scale_s0 scale_s1 scale_s2 no_srr_s0 no_srr_s1 no_srr_s2

NAME is the MLflow run name (study/runs.txt); the newest FINISHED run of that name is taken. What is
kept is what ``SCALEModule.load_from_checkpoint`` needs (weights, hyperparameters) plus the epoch, step and
MLflow run id for the record; the optimizer and callback states (2/3 of the file) are dropped.
With ``--zero-shot`` the strict zero-shot checkpoint (``best_zero_shot.ckpt``: chosen at the training N
only, conf/scale_robust.yaml) goes to NAME_zero_shot.ckpt beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mlflow

from scale_pl.io.policy_loader import strip_checkpoint
from scale_pl.tracking import EXPERIMENT, newest_finished_run_id, tracking_uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--out", default="pretrained")
    parser.add_argument("--zero-shot", action="store_true", help="also copy best_zero_shot.ckpt to NAME_zero_shot.ckpt")
    args = parser.parse_args()
    client = mlflow.MlflowClient(tracking_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    for name in args.names:
        run_id = newest_finished_run_id(client, experiment.experiment_id, name)
        if run_id is None:
            raise SystemExit(f"error: no finished run named {name!r}")
        copies = {"best": name} | ({"best_zero_shot": f"{name}_zero_shot"} if args.zero_shot else {})
        for source, target in copies.items():
            path = Path("checkpoints") / run_id / f"{source}.ckpt"
            if not path.is_file():
                raise SystemExit(f"error: run {name!r} has no {path}")
            strip_checkpoint(path, out / f"{target}.ckpt", mlflow_run_id=run_id)
            print(f"{name}: run {run_id} {source} -> {out / f'{target}.ckpt'}")


if __name__ == "__main__":
    main()
