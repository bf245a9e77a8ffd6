"""Decisions per second of the batched `SchedulingEnv` (EFT, full observations) and of the reference simulator.

Usage: ``python benchmarks/sim_throughput.py [--device cpu|cuda] [--quick] [--information expected|exact_queue]``

Each configuration packs a pool of distinct seeded workloads, tiles it to B environments and
times ``--steps`` steps (observation built every step), repeated ``--repeats`` times; the
median is reported. The reference simulator runs the same workloads with the same policy (it
builds the same full observation, in plain Python). Peak resident memory of the process is
printed at the end (run one configuration at a time to measure one, e.g. ``--batch-sizes 4096
--sizes 128``). Ends with one JSON line of all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time

import torch

from scale_pl.baselines import EarliestFinishTime
from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import INFORMATION_MODES, SchedulingEnv
from scale_pl.sim.generators.config import load_cluster_spec, load_generator
from scale_pl.sim.reference.simulator import ReferenceSimulator


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def batched_rate(pool: WorkloadBatch, b: int, steps: int, repeats: int, device: str, information: str) -> float:
    batch = pool.select(torch.arange(b) % pool.arrival.shape[0]).to(device)
    policy = EarliestFinishTime()
    rates = []
    for _ in range(repeats):
        env = SchedulingEnv(batch, check_actions=False, information=information)
        obs = env.observe()
        for _ in range(5):  # warm-up
            obs, _, _ = env.step(policy(obs))
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            obs, _, _ = env.step(policy(obs))
        sync(device)
        rates.append(b * steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def reference_rate(pairs, repeats: int, information: str) -> float:
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        decisions = 0
        for workload, cluster in pairs:
            ReferenceSimulator(workload, cluster, information=information).run(EarliestFinishTime())
            decisions += workload.num_tasks
        rates.append(decisions / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--pool", type=int, default=16, help="distinct workloads tiled to B")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="B in {1, 64, 1024}, N=16, few steps")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--information", choices=INFORMATION_MODES, default="expected")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.batch_sizes, args.sizes, args.steps, args.repeats, args.pool = [1, 64, 1024], [16], 30, 1, 4

    spec = load_cluster_spec()
    results = []
    print(f"device {args.device}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'N':>5} {'B':>6} {'batched dec/s':>14} {'reference dec/s':>16} {'ratio':>8}")
    for n in args.sizes:
        # 40 workflows (~450 decisions) outlast the timed steps; more would only add memory.
        generator = load_generator(num_workflows=40)
        cluster = spec.make(n, generator.catalogue)
        pairs = [(generator.generate(cluster, seed), cluster) for seed in range(args.pool)]
        pool = WorkloadBatch.from_pairs(pairs)
        ref = reference_rate(pairs[: max(1, args.pool // 4)], 1, args.information)
        for b in args.batch_sizes:
            rate = batched_rate(pool, b, args.steps, args.repeats, args.device, args.information)
            results.append({"N": n, "B": b, "batched": rate, "reference": ref, "ratio": rate / ref})
            print(f"{n:>5} {b:>6} {rate:>14,.0f} {ref:>16,.0f} {rate / ref:>8.1f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"information {args.information}; peak RSS of this process: {peak_mb:,.0f} MB")
    print(json.dumps({"benchmark": "sim_throughput", "device": args.device, "information": args.information,
                      "peak_rss_mb": peak_mb, "results": results}))  # fmt: skip


if __name__ == "__main__":
    main()
