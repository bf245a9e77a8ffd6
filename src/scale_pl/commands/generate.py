"""Generate a seeded workload for an N-server cluster and write it as a workload file.

Example: ``python -m scale_pl generate --out W.json --servers 16 --seed 0 --cluster-out C.yaml``
"""

from __future__ import annotations

import argparse

from scale_pl.errors import ScaleError
from scale_pl.io.atomic import check_writable, staged_outputs
from scale_pl.io.cluster_file import dump_cluster
from scale_pl.io.workload_file import dump_workload
from scale_pl.sim.generators.config import load_cluster_spec, load_generator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="workload file to write (JSON)")
    parser.add_argument("--workload-config", default=None, help="workload YAML (default conf/workload/default.yaml)")
    parser.add_argument("--cluster-config", default=None, help="cluster YAML (default conf/cluster/default.yaml)")
    parser.add_argument("--servers", type=int, required=True, help="cluster size N (sets the arrival rate)")
    parser.add_argument("--seed", type=int, required=True, help="workload seed: one seed, one workload")
    parser.add_argument("--num-workflows", type=int, default=None, help="workflows (default: the config's)")
    parser.add_argument("--rho", type=float, default=None, help="offered load (default: the config's)")
    parser.add_argument("--cluster-out", default=None, help="also write the N-server cluster file (YAML or .json)")


def run(args: argparse.Namespace) -> int:
    out = check_writable(args.out, "--out")
    cluster_out = check_writable(args.cluster_out, "--cluster-out") if args.cluster_out else None
    if cluster_out is not None and cluster_out.resolve() == out.resolve():
        raise ScaleError("--out and --cluster-out name the same file")
    if args.servers < 1:
        raise ScaleError(f"--servers must be >= 1, got {args.servers}")
    overrides = {k: v for k, v in (("num_workflows", args.num_workflows), ("rho", args.rho)) if v is not None}
    generator = load_generator(args.workload_config, **overrides)
    cluster = load_cluster_spec(args.cluster_config).make(args.servers, generator.catalogue)
    workload = generator.generate(cluster, args.seed)
    meta = {
        "generator": "scale_pl generate",
        "seed": args.seed,
        "servers": args.servers,
        "rho": generator.rho,
        "num_workflows": generator.num_workflows,
        "workload_config": str(args.workload_config or "conf/workload/default.yaml"),
        "cluster_config": str(args.cluster_config or "conf/cluster/default.yaml"),
    }
    text = dump_workload(workload, meta)
    with staged_outputs() as stage:
        stage(out, lambda tmp: tmp.write_text(text))
        if cluster_out is not None:
            stage(cluster_out, lambda tmp: tmp.write_text(dump_cluster(cluster, cluster_out)))
    print(f"wrote {out}: {len(workload.workflows)} workflows, {workload.num_tasks} tasks for N={args.servers}")
    if cluster_out is not None:
        print(f"wrote {cluster_out}: {cluster.num_servers} servers")
    return 0
