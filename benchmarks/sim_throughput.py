"""Decisions per second of the batched `SchedulingEnv` (EFT, full observations) and of the reference simulator.

Usage: ``python benchmarks/sim_throughput.py [--device cpu|cuda] [--quick] [--information expected|exact_queue]``

Each configuration packs a pool of distinct seeded workloads, tiles it to B environments, steps
``--warmup`` decisions untimed, then times ``--steps`` steps (observation built every step),
repeated ``--repeats`` times; the median is reported. Episodes last about 450 decisions, so the
default ``--warmup 5`` times the first quarter of an episode; ``--warmup 150`` times mid-episode,
where the servers' queues are longest. The reference simulator runs the same workloads with the
same policy (it builds the same full observation, in plain Python).

Two rates per figure: decisions per wall-clock second, and per CPU-second of the process (all
threads). On a machine shared with other work the wall-clock rate drops with the load while the
CPU rate moves much less; compare CPU rates there, and use ``--threads 1`` (with two threads
competing for busy cores, torch's thread pool spends its time waiting). Peak resident memory of
the process is printed at the end (run one configuration at a time to measure one, e.g.
``--batch-sizes 4096 --sizes 128``). Ends with one JSON line of all figures.
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


def timed(run) -> tuple[float, float]:
    """(wall, CPU) seconds of ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


class Stepper:
    """Steps an environment under EFT, observation built every step."""

    def __init__(self, env: SchedulingEnv, device: str) -> None:
        self.env, self.device, self.policy, self.obs = env, device, EarliestFinishTime(), env.observe()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.obs = self.env.step(self.policy(self.obs))[0]
        sync(self.device)


def batched_rate(
    pool: WorkloadBatch, b: int, steps: int, warmup: int, repeats: int, device: str, information: str
) -> tuple[float, float]:
    """Median decisions per wall-clock and per CPU second of ``steps`` steps after ``warmup`` steps."""
    batch = pool.select(torch.arange(b) % pool.arrival.shape[0]).to(device)
    walls, cpus = [], []
    for _ in range(repeats):
        stepper = Stepper(SchedulingEnv(batch, check_actions=False, information=information), device)
        stepper.run(warmup)
        wall, cpu = timed(lambda s=stepper: s.run(steps))
        walls.append(b * steps / wall)
        cpus.append(b * steps / cpu)
    return statistics.median(walls), statistics.median(cpus)


def reference_rate(pairs, repeats: int, information: str) -> tuple[float, float]:
    """Median decisions per wall-clock and per CPU second of whole reference episodes."""
    decisions = sum(workload.num_tasks for workload, _ in pairs)
    walls, cpus = [], []
    for _ in range(repeats):

        def run() -> None:
            for workload, cluster in pairs:
                ReferenceSimulator(workload, cluster, information=information).run(EarliestFinishTime())

        wall, cpu = timed(run)
        walls.append(decisions / wall)
        cpus.append(decisions / cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--pool", type=int, default=16, help="distinct workloads tiled to B")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before the timed ones")
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
    print(f"{'N':>5} {'B':>6} {'batched dec/s':>14} {'reference dec/s':>16} {'ratio':>6}   per CPU-second: "
          f"{'batched':>10} {'reference':>10} {'ratio':>6}")  # fmt: skip
    for n in args.sizes:
        # 40 workflows (~450 decisions) outlast the timed steps; more would only add memory.
        generator = load_generator(num_workflows=40)
        cluster = spec.make(n, generator.catalogue)
        pairs = [(generator.generate(cluster, seed), cluster) for seed in range(args.pool)]
        pool = WorkloadBatch.from_pairs(pairs)
        ref, ref_cpu = reference_rate(pairs[: max(1, args.pool // 4)], 1, args.information)
        for b in args.batch_sizes:
            rate, cpu = batched_rate(pool, b, args.steps, args.warmup, args.repeats, args.device, args.information)
            per_cpu = {"batched_per_cpu_s": cpu, "reference_per_cpu_s": ref_cpu, "ratio_cpu": cpu / ref_cpu}
            results.append({"N": n, "B": b, "batched": rate, "reference": ref, "ratio": rate / ref, **per_cpu})
            print(f"{n:>5} {b:>6} {rate:>14,.0f} {ref:>16,.0f} {rate / ref:>6.1f}   {'':>15} "
                  f"{cpu:>10,.0f} {ref_cpu:>10,.0f} {cpu / ref_cpu:>6.1f}")  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"information {args.information}, warm-up {args.warmup} steps, load average at the end "
          f"{os.getloadavg()[0]:.2f}; peak RSS of this process: {peak_mb:,.0f} MB")  # fmt: skip
    print(json.dumps({"benchmark": "sim_throughput", "device": args.device, "information": args.information,
                      "threads": torch.get_num_threads(), "warmup": args.warmup, "steps": args.steps,
                      "peak_rss_mb": peak_mb, "results": results}))  # fmt: skip


if __name__ == "__main__":
    main()
