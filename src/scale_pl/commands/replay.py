"""Play a workload against a running placement service, acting as the cluster; write the schedule.

Example: ``python -m scale_pl replay --workload W.json --cluster C.yaml --url http://127.0.0.1:8000 --out S.json``

The actual work comes from the workload file and never reaches the service, which sees arrivals,
its placements and the start/finish events (docs/serve.md). The schedule JSON is the one
``schedule`` writes.
"""

from __future__ import annotations

import argparse
import os

from scale_pl.client import PlacementClient, ServiceError, TransportError
from scale_pl.commands.schedule import _floats, workload_and_cluster
from scale_pl.errors import ScaleError
from scale_pl.io.atomic import check_writable, staged_outputs
from scale_pl.io.json_text import dumps_expanded
from scale_pl.serve.replay import Replay
from scale_pl.serve.server import TOKEN_ENV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", nargs="+", required=True, metavar="W", help="workload file(s) or WfFormat traces")
    parser.add_argument("--cluster", required=True, metavar="C", help="cluster file: the one the service runs")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default http://127.0.0.1:8000)")
    parser.add_argument("--out", required=True, help="schedule JSON to write")
    parser.add_argument("--token", default=None, help=f"bearer token of the service (or env {TOKEN_ENV})")
    parser.add_argument(
        "--retry-for", type=float, default=60.0, help="seconds to retry a request that got no answer (default 60)"
    )
    parser.add_argument("--run-id", default=None, help="prefix of the idempotency keys (default: from the workload)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --arrival-rate")
    parser.add_argument("--workload-config", "--catalogue", dest="workload_config", default=None,
                        help="catalogue for files that embed none (default conf/workload/default.yaml)")  # fmt: skip
    parser.add_argument("--wfformat-config", default=None, help="WfFormat program-to-type mapping")
    arrivals = parser.add_mutually_exclusive_group()
    arrivals.add_argument("--arrivals", type=_floats, default=None, metavar="T1,T2,...",
                          help="arrival times of the WfFormat traces (default: all at 0)")  # fmt: skip
    arrivals.add_argument("--arrival-rate", type=float, default=None, metavar="R",
                          help="or Poisson arrivals of the WfFormat traces, R per second")  # fmt: skip
    parser.add_argument("--servers", type=int, default=None, help="N, only when --cluster is a class-mix config")


def run(args: argparse.Namespace) -> int:
    out = check_writable(args.out, "--out")
    workload, cluster = workload_and_cluster(args)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    with PlacementClient(args.url, token=token, retry_for=args.retry_for) as client:
        try:
            schedule = Replay(workload, cluster, client, args.run_id).run()
        except ServiceError as exc:
            raise ScaleError(f"{args.url}: {exc}") from None
        except TransportError as exc:
            raise ScaleError(f"{args.url}: no answer ({exc})") from None
    text = dumps_expanded(schedule, 2) + "\n"
    with staged_outputs() as stage:
        stage(out, lambda tmp: tmp.write_text(text))
    m = schedule["metrics"]
    print(
        f"wrote {out}: {len(schedule['tasks'])} tasks of {len(schedule['workflows'])} workflows replayed against "
        f"{args.url}, ART {m['avg_response_time']:.3f} s, p95 {m['p95_response_time']:.3f} s"
    )
    return 0
