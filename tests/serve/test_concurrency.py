"""Decisions are serialised: concurrent clients never interleave inside a decision.

Several threads act as independent runtimes, each submitting its own workflows and reporting their
events (every time 0, so no request is ever older than the shared clock, whatever the interleaving).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from scale_pl.client import PlacementClient
from scale_pl.io.workload_file import workflow_to_dict
from scale_pl.serve.app import create_app
from scale_pl.serve.server import BackgroundServer, build_service
from scale_pl.sim.generators.config import load_cluster_spec, load_generator

THREADS, PER_THREAD = 6, 6


class Watchful:
    """Wraps a policy; counts decisions that began while another was still running."""

    def __init__(self, policy) -> None:
        self.policy, self.inside, self.overlaps = policy, 0, 0

    def reset(self, batch_size: int) -> None:
        self.policy.reset(batch_size)

    def __call__(self, obs):
        self.inside += 1
        self.overlaps += self.inside > 1
        time.sleep(0.0002)  # widen the window an interleaving would need
        try:
            return self.policy(obs)
        finally:
            self.inside -= 1


def run_runtime(url: str, flows: list[dict], placed: list, errors: list) -> None:
    try:
        with PlacementClient(url) as client:
            for spec in flows:
                todo = client.submit(spec)
                while todo:
                    placed.extend((p["workflow"], p["task"]) for p in todo)
                    events = [{"workflow": p["workflow"], "task": p["task"], "kind": kind, "time": 0.0}
                              for p in todo for kind in ("started", "finished")]  # fmt: skip
                    todo = client.events(events)
    except Exception as exc:  # reported by the test, not lost in the thread
        errors.append(exc)


def test_concurrent_clients_complete_everything_and_nothing_is_placed_twice(setup16):
    generator = load_generator(None, num_workflows=THREADS * PER_THREAD)
    cluster = load_cluster_spec(None).make(16, generator.catalogue)
    workload = generator.generate(cluster, 11)
    specs = []
    for i, f in enumerate(workload.workflows):
        spec = workflow_to_dict(f, workload.catalogue)
        specs.append({**spec, "id": f"r{i % THREADS}-{i}", "arrival": 0.0})
    service = build_service(setup16[1], "rank_eft")
    watch = service.engine.policy = Watchful(service.engine.policy)
    placed: list = []
    errors: list = []
    with BackgroundServer(create_app(service)) as server:
        threads = [
            threading.Thread(target=run_runtime, args=(server.url, specs[k::THREADS], placed, errors))
            for k in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        with PlacementClient(server.url) as client:
            metrics = client.metrics()
            states = [client.workflow(s["id"]) for s in specs]
    assert not errors, errors[0]
    total = sum(len(s["tasks"]) for s in specs)
    counts = Counter(placed)
    assert len(counts) == total and max(counts.values()) == 1  # every task placed, none twice
    assert metrics["decisions"] == total
    assert metrics["workflows"] == {"submitted": len(specs), "in_system": 0, "completed": len(specs)}
    assert all(s["state"] == "completed" and s["response_time"] == 0.0 for s in states)
    assert watch.overlaps == 0
