"""Decisions per second in the one-environment loop (what `schedule` and the placement service run).

Usage: ``python benchmarks/one_env.py [--sizes 16 96 256] [--policy pretrained/scale_s0.ckpt] [--busy] [--batched]``

Generates a workload of ``4 x N`` workflows at each N (seed 0, the default workload and cluster),
then times :func:`scale_pl.sim.single.run.run_workload` (the `schedule` command's loop: the
one-environment engine's observation, the policy, the servers) with the checkpoint and with EFT,
each policy as `schedule` runs it (:func:`scale_pl.models.lean.one_environment_policy`).
``--batched`` also times the batched environment at B=1 (:func:`scale_pl.sim.batched.rollout.simulate`,
what `schedule` ran before). Start-up (loading the checkpoint, generating the workload) is excluded.
``--busy`` keeps the other core busy with a second process (what a shared machine does to a
one-environment loop). Target (docs/performance.md): 1,000 decisions/s or more with a checkpoint at
N=96, quiet or busy. Reports the median of ``--repeats`` runs. Ends with one JSON line of all figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time

import torch

from scale_pl.io.policy_loader import load_policy
from scale_pl.models.lean import one_environment_policy
from scale_pl.sim.batched.rollout import simulate
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from scale_pl.sim.single.run import run_workload


def burn(stop: mp.Event) -> None:
    """Keep one core busy (a tight numeric loop in another process) until ``stop`` is set."""
    x = 0.0
    while not stop.is_set():
        for i in range(100_000):
            x += i * 0.5


def timed(run, repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``run``."""
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 96, 256])
    parser.add_argument("--policy", default="pretrained/scale_s0.ckpt", help="a checkpoint (or a heuristic name)")
    parser.add_argument("--workflows-per-server", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--busy", action="store_true", help="keep the other core busy while timing")
    parser.add_argument("--batched", action="store_true", help="also time the batched environment at B=1")
    args = parser.parse_args()

    spec = load_cluster_spec()
    results = []
    stop = mp.Event()
    busy = mp.Process(target=burn, args=(stop,), daemon=True) if args.busy else None
    if busy:
        busy.start()
    print(f"torch {torch.__version__}, busy other core: {bool(busy)}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'N':>5} {'tasks':>6} {'engine':>8} {'policy':>28} {'seconds':>8} {'decisions/s':>12}")
    try:
        for n in args.sizes:
            generator = load_generator(num_workflows=args.workflows_per_server * n)
            cluster = spec.make(n, generator.catalogue)
            workload = generator.generate(cluster, 0)
            for name in (args.policy, "eft"):
                policy, features = one_environment_policy(load_policy(name))
                engines = {"single": lambda: run_workload(workload, cluster, policy, features=features)}  # noqa: B023
                if args.batched:
                    engines["batched"] = lambda: simulate(workload, cluster, load_policy(name))  # noqa: B023
                for engine, run in engines.items():  # (each closure runs before its loop variables move on)
                    seconds = timed(run, args.repeats)
                    rate = workload.num_tasks / seconds
                    results.append({"N": n, "tasks": workload.num_tasks, "engine": engine, "policy": name,
                                    "seconds": seconds, "rate": rate})  # fmt: skip
                    print(f"{n:>5} {workload.num_tasks:>6} {engine:>8} {name:>28} {seconds:>8.2f} {rate:>12,.0f}")
    finally:
        stop.set()
        if busy:
            busy.join()
    print(json.dumps({"benchmark": "one_env", "busy": bool(busy), "load": os.getloadavg()[0], "results": results}))


if __name__ == "__main__":
    main()
