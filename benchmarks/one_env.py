"""Decisions per second in the one-environment loop (what `schedule`, `evaluate` and a service do).

Usage: ``python benchmarks/one_env.py [--sizes 16 96 256] [--policy pretrained/scale_s0.ckpt] [--busy]``

Generates a workload of ``4 x N`` workflows at each N (seed 0, the default workload and cluster),
then times :func:`scale_pl.sim.batched.rollout.simulate` (the `schedule` command's loop: observation,
policy, step) with the checkpoint and with EFT. Start-up (loading the checkpoint, generating and
packing the workload) is excluded. ``--busy`` keeps the other core busy with a second process
(what a shared machine does to small-tensor loops). Target (docs/performance.md): 1,000 decisions/s
or more with a checkpoint at N=96, quiet or busy. Ends with one JSON line of all figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time

import torch

from scale_pl.io.policy_loader import load_policy
from scale_pl.sim.batched.rollout import simulate
from scale_pl.sim.generators.config import load_cluster_spec, load_generator


def burn(stop: mp.Event) -> None:
    """Keep one core busy (a tight numeric loop in another process) until ``stop`` is set."""
    x = 0.0
    while not stop.is_set():
        for i in range(100_000):
            x += i * 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 96, 256])
    parser.add_argument("--policy", default="pretrained/scale_s0.ckpt", help="a checkpoint (or a heuristic name)")
    parser.add_argument("--workflows-per-server", type=int, default=4)
    parser.add_argument("--busy", action="store_true", help="keep the other core busy while timing")
    args = parser.parse_args()

    spec = load_cluster_spec()
    results = []
    stop = mp.Event()
    busy = mp.Process(target=burn, args=(stop,), daemon=True) if args.busy else None
    if busy:
        busy.start()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, busy other core: {bool(busy)}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'N':>5} {'tasks':>6} {'policy':>28} {'seconds':>8} {'decisions/s':>12}")
    try:
        for n in args.sizes:
            generator = load_generator(num_workflows=args.workflows_per_server * n)
            cluster = spec.make(n, generator.catalogue)
            workload = generator.generate(cluster, 0)
            for name in (args.policy, "eft"):
                policy = load_policy(name)
                t0 = time.perf_counter()
                simulate(workload, cluster, policy)
                seconds = time.perf_counter() - t0
                rate = workload.num_tasks / seconds
                results.append({"N": n, "tasks": workload.num_tasks, "policy": name, "seconds": seconds, "rate": rate})
                print(f"{n:>5} {workload.num_tasks:>6} {name:>28} {seconds:>8.2f} {rate:>12,.0f}")
    finally:
        stop.set()
        if busy:
            busy.join()
    print(json.dumps({"benchmark": "one_env", "busy": bool(busy), "results": results}))


if __name__ == "__main__":
    main()
