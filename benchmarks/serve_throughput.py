"""Placements per second and request latency of ``python -m scale_pl serve``, through HTTP.

For each policy (rank_eft, pretrained/scale_s0.ckpt) and cluster size (N=16, N=64), a generated
workload is replayed against a service running in its own process (``serve --port 0``, memory
state), exactly as ``python -m scale_pl replay`` does: the replay acts as the cluster and sends a
request per decision moment. Reported: placements/s over the whole replay (wall clock, client and
server on the same machine), p50/p99 request latency seen by the client, and the service's own
decision latency. Prints a table and one JSON line.

    python benchmarks/serve_throughput.py [--workflows 60] [--sizes 16 64] [--state]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scale_pl.client import PlacementClient
from scale_pl.io.cluster_file import write_cluster
from scale_pl.serve.replay import Replay
from scale_pl.sim.generators.config import load_cluster_spec, load_generator

REPO = Path(__file__).resolve().parents[1]
POLICIES = {"rank_eft": "rank_eft", "checkpoint": str(REPO / "pretrained" / "scale_s0.ckpt")}


class TimedClient(PlacementClient):
    """A client that records the wall time of every request."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.latencies: list[float] = []

    def _call(self, method, path, body=None, key=None):
        began = time.perf_counter()
        try:
            return super()._call(method, path, body, key)
        finally:
            self.latencies.append(time.perf_counter() - began)


def serve(cluster: Path, policy: str, state: Path | None) -> tuple[subprocess.Popen, str]:
    extra = ["--state", str(state)] if state else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scale_pl",
            "serve",
            "--cluster",
            str(cluster),
            "--policy",
            policy,
            "--port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    line = proc.stdout.readline()
    if not line.startswith("serving on "):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.split()[2]


def measure(name: str, n: int, workflows: int, seed: int, folder: Path, with_state: bool) -> dict:
    generator = load_generator(None, num_workflows=workflows)
    cluster = load_cluster_spec(None).make(n, generator.catalogue)
    workload = generator.generate(cluster, seed)
    cluster_path = folder / f"c{n}.yaml"
    write_cluster(cluster, cluster_path)
    state = folder / f"{name}-{n}.db" if with_state else None
    proc, url = serve(cluster_path, POLICIES[name], state)
    try:
        with TimedClient(url, retry_for=30) as client:
            client.health()
            client.latencies.clear()
            began = time.perf_counter()
            Replay(workload, cluster, client).run()
            wall = time.perf_counter() - began
            server = client.metrics()
            lat = np.array(client.latencies[:-1]) * 1000  # without the metrics call
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {
        "policy": name, "servers": n, "state": "sqlite" if with_state else "memory",
        "placements": workload.num_tasks, "requests": int(lat.size), "seconds": round(wall, 3),
        "placements_per_s": round(workload.num_tasks / wall, 1),
        "request_p50_ms": round(float(np.percentile(lat, 50)), 3),
        "request_p99_ms": round(float(np.percentile(lat, 99)), 3),
        "decision_p50_ms": round(server["decision_latency_ms"]["p50"], 3),
        "decision_p99_ms": round(server["decision_latency_ms"]["p99"], 3),
        "handled_p50_ms": round(server["request_latency_ms"]["p50"], 3),
        "load": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, default=60, help="workflows per replay (default 60)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64], help="cluster sizes N (default 16 64)")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--state", action="store_true", help="with a SQLite journal (--state) instead of memory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.policies:
            for n in args.sizes:
                rows.append(measure(name, n, args.workflows, args.seed, Path(tmp), args.state))
                r = rows[-1]
                print(
                    f"{r['policy']:>10} N={r['servers']:<3} {r['state']:>6}: {r['placements_per_s']:7.1f} placements/s"
                    f"  request p50 {r['request_p50_ms']:6.2f} ms  p99 {r['request_p99_ms']:6.2f} ms"
                    f"  decision p50 {r['decision_p50_ms']:5.2f} ms  p99 {r['decision_p99_ms']:5.2f} ms"
                    f"  in service p50 {r['handled_p50_ms']:5.2f} ms  load {r['load']:.1f}"
                    f"  ({r['placements']} placements, {r['requests']} requests, {r['seconds']} s)",
                    flush=True,
                )
    print(json.dumps({"benchmark": "serve_throughput", "cpus": os.cpu_count(), "rows": rows}))


if __name__ == "__main__":
    main()
