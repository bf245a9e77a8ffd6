"""Time of one PPO iteration (rollout of num_envs x rollout_steps decisions + the update) through the real CLI.

Usage: ``python benchmarks/ppo_iteration.py [--config conf/scale.yaml] [--iterations 4] [--device cpu|cuda]``

Runs ``fit`` for a few rollouts with validation off, logging into a temporary sqlite MLflow store,
then reads ``train/rollout_s`` and ``train/update_s`` back and prints their medians (the first
iteration is dropped as warm-up) and the peak resident memory of the run. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "conf" / "scale.yaml"))
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("extra", nargs="*", help="more CLI overrides, e.g. --data.num_envs=128")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp}/mlflow.db")
        cmd = [sys.executable, "-m", "scale_pl", "fit", "--config", args.config,
               "--trainer.max_epochs=1", f"--data.rollouts_per_epoch={args.iterations + 1}",
               "--trainer.limit_val_batches=0", f"--trainer.accelerator={args.device}",
               f"--trainer.default_root_dir={tmp}", "--trainer.enable_progress_bar=false",
               "--trainer.callbacks=[]", *args.extra]  # fmt: skip
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"fit failed:\n{proc.stderr[-3000:]}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        import mlflow

        client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
        run = client.search_runs([client.get_experiment_by_name("scale_pl").experiment_id])[0]
        series = {k: [m.value for m in client.get_metric_history(run.info.run_id, f"train/{k}")][1:]
                  for k in ("rollout_s", "update_s", "minibatches")}  # fmt: skip
    rollout, update = statistics.median(series["rollout_s"]), statistics.median(series["update_s"])
    params = run.data.params
    print(f"config {Path(args.config).name}: {params.get('data.num_envs')} envs x {params.get('data.rollout_steps')} "
          f"steps, device {args.device}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"rollout  {rollout:6.2f} s (median of {len(series['rollout_s'])})")
    print(f"update   {update:6.2f} s ({statistics.median(series['minibatches']):.0f} minibatch steps)")
    print(f"total    {rollout + update:6.2f} s per PPO iteration; peak RSS of the fit {peak_mb:.0f} MB")
    out = {"benchmark": "ppo_iteration", "device": args.device, "config": Path(args.config).name}
    out |= {"rollout_s": rollout, "update_s": update, "iteration_s": rollout + update, "peak_rss_mb": peak_mb}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
