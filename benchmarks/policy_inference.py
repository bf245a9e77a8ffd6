"""Policy inference speed: batched decisions/s and single-decision latency, per DAG encoder.

Targets (docs/performance.md): 50k decisions/s batched (B=1024, N=16, 3-layer GNN) on CPU, and
one decision at N=1024 in under 5 ms on CPU. Observations are synthetic but valid (full
workflows of ``--tasks`` tasks, ``1.5 x`` as many edges); the timed call is ``policy.act`` (encoder,
pointer, critic, sampling) under ``torch.inference_mode()``. Figures are medians over repeats.

    python benchmarks/policy_inference.py              # default: under a minute on 2 idle cores
    python benchmarks/policy_inference.py --quick      # a few seconds
    python benchmarks/policy_inference.py --device cuda --encoders gin,gatv2

The last line printed is one JSON object holding every figure (medians, plus the best repeat,
which is less sensitive to other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import torch

from scale_pl.models import ENCODERS, SCALEPolicy, build_policy
from scale_pl.models.synthetic import random_observation
from scale_pl.sim.system.observation import Observation

TARGET_BATCHED_PER_S = 50_000
TARGET_LATENCY_MS_AT_1024 = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated subset of " + ",".join(ENCODERS))
    p.add_argument("--batch-size", type=int, default=1024, help="B of the batched measurement")
    p.add_argument("--servers", type=int, default=16, help="N of the batched measurement")
    p.add_argument("--latency-servers", default="16,128,1024", help="N values of the single-decision latency")
    p.add_argument("--tasks", type=int, default=20, help="tasks per workflow (every workflow is full)")
    p.add_argument("--layers", type=int, default=3, help="GNN layers")
    p.add_argument("--embed-dim", type=int, default=32, help="encoder width and policy embedding D")
    p.add_argument("--hidden-dim", type=int, default=64, help="hidden width of the feature MLPs and critic")
    p.add_argument("--repeats", type=int, default=20, help="timed repeats of the batched call")
    p.add_argument("--latency-repeats", type=int, default=100, help="timed repeats of each single decision")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="few repeats: a smoke run of a few seconds")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.latency_repeats, args.warmup = 3, 5, 1
    return args


def time_calls(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """Median and best wall time (seconds) of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def make_obs(args: argparse.Namespace, batch_size: int, num_servers: int, device: torch.device) -> Observation:
    gen = torch.Generator().manual_seed(args.seed)
    num_edges = max(1, round(1.5 * args.tasks))
    return random_observation(
        batch_size, args.tasks, num_edges, num_servers, min_nodes=args.tasks, generator=gen, device=device
    )


def bench_encoder(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    torch.manual_seed(args.seed)
    policy: SCALEPolicy = build_policy(
        6, 4, encoder=name, embed_dim=args.embed_dim, hidden_dim=args.hidden_dim, num_layers=args.layers
    )
    policy = policy.to(device).eval()
    gen = torch.Generator(device=device).manual_seed(args.seed)
    obs = make_obs(args, args.batch_size, args.servers, device)
    with torch.inference_mode():
        batched_s, batched_best = time_calls(lambda: policy.act(obs, generator=gen), args.repeats, args.warmup, device)
        latency_ms, latency_best_ms = {}, {}
        for n in (int(v) for v in args.latency_servers.split(",")):
            single = make_obs(args, 1, n, device)
            median, best = time_calls(
                lambda s=single: policy.act(s, generator=gen), args.latency_repeats, args.warmup, device
            )
            latency_ms[str(n)], latency_best_ms[str(n)] = 1e3 * median, 1e3 * best
    return {
        "batched_decisions_per_s": args.batch_size / batched_s,
        "batched_ms": 1e3 * batched_s,
        "latency_ms": latency_ms,
        "best_batched_decisions_per_s": args.batch_size / batched_best,
        "best_latency_ms": latency_best_ms,
        "parameters": sum(p.numel() for p in policy.parameters()),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device available")
    names = [n.strip() for n in args.encoders.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ENCODERS))
    if unknown:
        raise SystemExit(f"unknown encoder(s) {unknown}; choose from {sorted(ENCODERS)}")
    lat_ns = args.latency_servers.split(",")
    load = os.getloadavg()[0]
    print(
        f"policy inference on {device} ({torch.get_num_threads()} threads, load average {load:.2f}), "
        f"torch {torch.__version__}: "
        f"batched B={args.batch_size} N={args.servers}; {args.tasks}-task workflows, {args.layers} layers, "
        f"D={args.embed_dim}; medians of {args.repeats} / {args.latency_repeats} repeats"
    )
    header = f"{'encoder':<12}{'decisions/s':>14}{'(best)':>10}{'batch ms':>10}" + "".join(
        f"{'1@N=' + n + ' ms':>14}" for n in lat_ns
    )
    print(header)
    results = {}
    for name in names:
        r = bench_encoder(name, args, device)
        results[name] = r
        lat = "".join(f"{r['latency_ms'][n]:>14.2f}" for n in lat_ns)
        rate, best = r["batched_decisions_per_s"], r["best_batched_decisions_per_s"]
        print(f"{name:<12}{rate:>14,.0f}{best:>10,.0f}{r['batched_ms']:>10.1f}{lat}", flush=True)
    print(
        f"targets (CPU): >= {TARGET_BATCHED_PER_S:,} decisions/s batched; "
        f"< {TARGET_LATENCY_MS_AT_1024} ms for one decision at N=1024"
    )
    summary = {
        "benchmark": "policy_inference",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "load_average_1min": load,
        "torch": torch.__version__,
        "config": {
            k: getattr(args, k)
            for k in ("batch_size", "servers", "latency_servers", "tasks", "layers", "embed_dim", "hidden_dim")
        }
        | {"repeats": args.repeats, "latency_repeats": args.latency_repeats, "quick": args.quick},
        "targets": {"batched_decisions_per_s": TARGET_BATCHED_PER_S, "latency_ms_at_1024": TARGET_LATENCY_MS_AT_1024},
        "results": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
