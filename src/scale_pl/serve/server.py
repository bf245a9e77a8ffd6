"""Building a service from files, and running it under uvicorn (in the foreground or in a thread)."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from scale_pl.errors import ScaleError
from scale_pl.io.cluster_file import load_cluster
from scale_pl.io.policy_loader import load_policy
from scale_pl.io.workload_sources import load_catalogue
from scale_pl.models.lean import one_environment_policy
from scale_pl.serve.engine import Engine
from scale_pl.serve.journal import Journal
from scale_pl.serve.service import Service
from scale_pl.sim.system.catalogue import Catalogue
from scale_pl.sim.system.cluster import Cluster

TOKEN_ENV = "SCALE_PL_TOKEN"


def build_service(
    cluster_path: str | Path,
    policy: str,
    state: str | Path | None = None,
    catalogue_path: str | Path | None = None,
    servers: int | None = None,
    seed: int = 0,
    synchronous: str = "FULL",
) -> Service:
    """The service of a cluster file and a policy (heuristic name or checkpoint), with an optional
    journal at ``state`` (its requests are applied again first). One-line errors for bad input."""
    catalogue = load_catalogue(catalogue_path)
    cluster = load_cluster(cluster_path, catalogue, servers)
    decider, features = one_environment_policy(load_policy(policy, seed=seed))
    engine = Engine(cluster, catalogue, decider, features=features)
    config = configuration(cluster, catalogue, policy, seed)
    journal = Journal(state, config, synchronous) if state is not None else None
    info = {
        "version": 1,
        "information": "expected",
        "policy": policy,
        "state": str(state) if state is not None else "memory",
        "servers": [
            {"id": name, "class": cluster.classes[int(c)].name, "slots": int(s)}
            for name, c, s in zip(cluster.server_names, cluster.server_class, cluster.slots, strict=True)
        ],
        "catalogue": catalogue.names,
    }
    return Service(engine, journal, info)


def configuration(cluster: Cluster, catalogue: Catalogue, policy: str, seed: int) -> dict[str, Any]:
    """What decisions depend on besides the requests: a journal replays only under the same."""
    path = Path(policy)
    weights = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return {
        "servers": cluster.server_names,
        "speed": cluster.speed.tolist(),
        "slots": cluster.slots.tolist(),
        "network": [cluster.network.latency, cluster.network.bandwidth_mbps],
        "catalogue": [[p.name, p.work, p.latency, p.output_mb] for p in catalogue.primitives],
        "policy": weights or policy,
        "seed": seed,
    }


def check_host(host: str, token: str | None) -> None:
    """Listening beyond this machine needs a token: anyone who can reach the port could place work."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False  # a host name: it may resolve to any interface
    if not loopback and not token:
        raise ScaleError(
            f"refusing to listen on {host} without a token: give --token or set {TOKEN_ENV} (or listen on 127.0.0.1)"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port; read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ScaleError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app) -> uvicorn.Server:
    """uvicorn without access logs (they cost more than a heuristic decision) or lifespan events."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
    return uvicorn.Server(config)


class BackgroundServer:
    """The app served by uvicorn in a thread on 127.0.0.1 and a free port (tests, benchmarks).

    Use as a context manager; ``url`` is where it listens.
    """

    def __init__(self, app, host: str = "127.0.0.1") -> None:
        self.sock = bind(host, 0)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        self.server = uvicorn_server(app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
