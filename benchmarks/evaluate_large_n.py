"""Wall and CPU seconds of `evaluate` at large N, and where they go.

Usage: ``python benchmarks/evaluate_large_n.py [--checkpoint pretrained/scale_s0.ckpt] [--heuristics eft]
[--sizes 96 192 256] [--seeds 4] [--cap 10]``

Runs what ``python -m scale_pl evaluate --checkpoint ... --heuristics ... --sizes ... --seeds ...`` runs
(:func:`~scale_pl.evaluation.across_n.evaluate_across_n`, the test seeds, 4 workflows per server),
with every policy call timed: per N, the seconds of EFT's reference run and of the other policies,
split into the policies' own calls and the rest (the environment's steps and observations; packing
the workloads counts in EFT's part, generating them in the part before). CPU seconds (``time.process_time``) are the
figure to compare on a shared machine: wall time moves with the other processes' load, CPU time much
less. Issue 16's target: 3x faster than before at N=96-256 (docs/performance.md). Ends with one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict

import torch

from scale_pl.baselines import make_heuristic
from scale_pl.evaluation.across_n import evaluate_across_n
from scale_pl.io.policy_loader import load_policy
from scale_pl.seeds import TEST_SEED_BASE


class Timed:
    """A policy whose calls add their CPU seconds to ``spent[key]`` (attributes pass through)."""

    def __init__(self, policy: object, spent: dict, key: str) -> None:
        self._policy, self._spent, self._key = policy, spent, key

    def __getattr__(self, name: str):
        return getattr(self._policy, name)

    def reset(self, batch_size: int) -> None:
        self._policy.reset(batch_size)

    def __call__(self, obs) -> torch.Tensor:
        t0 = time.process_time()
        try:
            return self._policy(obs)
        finally:
            self._spent[self._key] += time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", nargs="*", default=["pretrained/scale_s0.ckpt"])
    parser.add_argument("--heuristics", nargs="*", default=["eft"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 192, 256])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--cap", type=float, default=10.0)
    args = parser.parse_args()

    policy_calls: dict[str, float] = defaultdict(float)
    phases: dict[str, float] = defaultdict(float)
    policies = {}
    for path in args.checkpoint:
        policy = load_policy(path)
        policy.record_features = True  # as `evaluate` does
        name = os.path.splitext(os.path.basename(path))[0]
        policies[name] = lambda policy=policy, name=name: Timed(policy, policy_calls, name)
    for name in args.heuristics:
        policies[name] = lambda name=name: Timed(make_heuristic(name), policy_calls, name)
    clock = {"phase": "", "since": time.process_time()}

    def progress(label: str) -> None:  # called as each (N, policy) starts: close the previous phase
        now = time.process_time()
        if clock["phase"]:
            phases[clock["phase"]] += now - clock["since"]
        n, name = label.split(" ", 1)
        clock["phase"], clock["since"] = f"{n} {'eft' if name == 'eft' else 'others'}", now

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    wall, cpu = time.perf_counter(), time.process_time()
    clock["since"] = cpu
    evaluate_across_n(policies, None, None, args.sizes, range(TEST_SEED_BASE, TEST_SEED_BASE + args.seeds), 4,
                      progress=progress, cap=args.cap)  # fmt: skip
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    phases[clock["phase"]] += time.process_time() - clock["since"]
    print(f"{'phase':>14} {'CPU s':>8}")
    for phase, seconds in phases.items():
        print(f"{phase:>14} {seconds:>8.1f}")
    print(f"{'policy calls':>14} " + ", ".join(f"{k} {v:.1f}" for k, v in policy_calls.items()))
    print(f"total: {wall:.1f} s wall, {cpu:.1f} s CPU, load average {os.getloadavg()[0]:.2f}")
    print(json.dumps({"benchmark": "evaluate_large_n", "sizes": args.sizes, "seeds": args.seeds, "wall_s": wall,
                      "cpu_s": cpu, "phases_cpu_s": phases, "policy_calls_cpu_s": policy_calls}))  # fmt: skip


if __name__ == "__main__":
    main()
