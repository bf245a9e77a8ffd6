"""Learnable decisions per second of PPO training in steady state, through the real CLI.

Usage: ``python benchmarks/ppo_iteration.py [--config conf/scale.yaml] [--iterations 12] [--skip 4]
[--device cpu|cuda] [--threads 1] [-- --data.cache_warmup=false ...]``

Runs ``fit`` for ``skip + iterations`` rollouts with validation off, logging into a temporary
sqlite MLflow store, then reads the per-rollout figures back and prints the medians of the last
``iterations`` (the first ``skip`` rollouts are the start: the warm-up of the training pool, and
without the warm-up cache rollouts made of warm-up steps only). The figure that matters is
learnable decisions (the policy's own, the rows the losses use) per second of rollout + update,
in wall time and in CPU time of the process (the latter is steadier when other processes share
the machine). Ends with one JSON line.
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
SERIES = ("rollout_s", "update_s", "rollout_cpu_s", "update_cpu_s", "learn_rows", "minibatches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "conf" / "scale.yaml"))
    parser.add_argument("--iterations", type=int, default=12, help="rollouts measured")
    parser.add_argument("--skip", type=int, default=4, help="rollouts of the start left out")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the fit (the study's setting)")
    parser.add_argument("extra", nargs="*", help="more CLI overrides, e.g. --data.cache_warmup=false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp}/mlflow.db", OMP_NUM_THREADS=str(args.threads))
        cmd = [sys.executable, "-m", "scale_pl", "fit", "--config", args.config,
               "--trainer.max_epochs=1", f"--data.rollouts_per_epoch={args.skip + args.iterations}",
               "--trainer.limit_val_batches=0", f"--trainer.accelerator={args.device}",
               f"--trainer.default_root_dir={tmp}", "--trainer.enable_progress_bar=false",
               "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false", *args.extra]  # fmt: skip
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"fit failed:\n{proc.stderr[-3000:]}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        import mlflow

        client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
        run = client.search_runs([client.get_experiment_by_name("scale_pl").experiment_id])[0]
        history = {k: client.get_metric_history(run.info.run_id, f"train/{k}") for k in SERIES}
    # Rollouts with nothing to learn log nothing: align the series on the rollout (step) they belong to.
    steps = sorted({m.step for m in history["rollout_s"]})[args.skip :]
    series = {k: [m.value for m in sorted(v, key=lambda m: m.step) if m.step in steps] for k, v in history.items()}
    if not series["rollout_s"]:
        sys.exit("no rollout was measured: raise --iterations")
    med = {k: statistics.median(v) for k, v in series.items()}
    wall = [r / (a + b) for r, a, b in zip(series["learn_rows"], series["rollout_s"], series["update_s"], strict=True)]
    cpu = [r / (a + b) for r, a, b in zip(series["learn_rows"], series["rollout_cpu_s"], series["update_cpu_s"],
                                          strict=True)]  # fmt: skip
    params = run.data.params
    print(f"config {Path(args.config).name} {' '.join(args.extra)}: {params.get('data.num_envs')} envs x "
          f"{params.get('data.rollout_steps')} steps, device {args.device}, {args.threads} thread(s), "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"rollout  {med['rollout_s']:6.2f} s wall, {med['rollout_cpu_s']:6.2f} s CPU (median of {len(steps)})")
    print(f"update   {med['update_s']:6.2f} s wall, {med['update_cpu_s']:6.2f} s CPU "
          f"({med['minibatches']:.0f} minibatch steps)")  # fmt: skip
    print(f"learnable decisions per rollout {med['learn_rows']:.0f}: {statistics.median(wall):,.0f} per second "
          f"(wall), {statistics.median(cpu):,.0f} per CPU-second; peak RSS of the fit {peak_mb:.0f} MB")  # fmt: skip
    out = {"benchmark": "ppo_iteration", "device": args.device, "config": Path(args.config).name, "extra": args.extra}
    out |= {k: med[k] for k in SERIES} | {"learnable_per_s": statistics.median(wall)}
    out |= {"learnable_per_cpu_s": statistics.median(cpu), "peak_rss_mb": peak_mb}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
