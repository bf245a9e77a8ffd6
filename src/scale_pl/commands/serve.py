"""Serve placements online: an agent runtime submits workflows and reports task events over HTTP.

Example: ``python -m scale_pl serve --cluster C.yaml --policy rank_eft --state state.db``
(see docs/serve.md).
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", required=True, metavar="C", help="cluster file (YAML or JSON, a count per class)")
    parser.add_argument(
        "--policy",
        required=True,
        metavar="NAME|PATH.ckpt",
        help="a heuristic (eft, rank_eft, ...) or a checkpoint (PATH.ckpt@eft:3:10: anchored; A.ckpt+B.ckpt: voting)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    parser.add_argument(
        "--state", default=None, metavar="STATE.db", help="SQLite journal: survive restarts (default: memory only)"
    )
    parser.add_argument(
        "--token", default=None, help="bearer token every request but health must carry (or env SCALE_PL_TOKEN)"
    )
    parser.add_argument(
        "--workload-config",
        "--catalogue",
        dest="workload_config",
        default=None,
        help="the task types workflows may use (default conf/workload/default.yaml)",
    )
    parser.add_argument("--servers", type=int, default=None, help="N, only when --cluster is a class-mix config")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy")
    parser.add_argument("--max-body-bytes", type=int, default=None, help="request size limit (default 1 MiB)")
    parser.add_argument(
        "--synchronous",
        choices=("FULL", "NORMAL"),
        default="FULL",
        help="journal durability: FULL survives power loss, NORMAL only a crash of the process (faster)",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here so that `python -m scale_pl --help` does not pay for FastAPI.
    import torch

    from scale_pl.serve.app import MAX_BODY, create_app
    from scale_pl.serve.server import TOKEN_ENV, bind, build_service, check_host, uvicorn_server

    token = args.token or os.environ.get(TOKEN_ENV) or None
    check_host(args.host, token)
    # One decision at a time, batch of one: intra-op threads only add synchronisation (and the
    # machine is shared with the runtime the service places work for).
    torch.set_num_threads(1)
    service = build_service(
        args.cluster, args.policy, args.state, args.workload_config, args.servers, args.seed, args.synchronous
    )
    app = create_app(service, token, args.max_body_bytes or MAX_BODY)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    recovered = f", {service.recovered} journalled requests applied" if service.recovered else ""
    state = args.state or "memory only"
    print(f"serving on http://{shown}:{port} (policy {args.policy}, state {state}{recovered})", flush=True)
    try:
        uvicorn_server(app).run(sockets=[sock])
    finally:
        sock.close()
        if service.journal is not None:
            service.journal.close()
    print("stopped", file=sys.stderr)
    return 0
