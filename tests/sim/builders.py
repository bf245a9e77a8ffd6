"""Small workloads and clusters for the simulator tests, built by hand or at random."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.generators.generator import WorkloadGenerator
from scale_pl.sim.generators.patterns import PATTERNS, STRUCTURES
from scale_pl.sim.system.catalogue import Catalogue, Primitive
from scale_pl.sim.system.cluster import Cluster, ClusterSpec, Network, ServerClass
from scale_pl.sim.system.workload import Workload

AGENTIC = [p for p in PATTERNS if p not in STRUCTURES]


@cache
def random_setup(seed: int) -> tuple[Workload, Cluster]:
    """A random catalogue, cluster (N in 1..64, 1-4 slots) and workload; transfers on or off."""
    rng = np.random.default_rng(seed)
    names = ["llm_plan", "llm_generate", "tool_api", "retrieval", "code_exec", "vision"]
    transfers = bool(rng.random() < 0.7)
    catalogue = Catalogue(
        [
            Primitive(
                n,
                work=float(rng.uniform(0.05, 5.0)),
                cv=float(rng.uniform(0, 1)),
                latency=float(rng.choice([0.0, rng.uniform(0, 0.5)])),
                output_mb=float(rng.uniform(0, 20)) if transfers else 0.0,
            )
            for n in names
        ]
    )
    classes = []
    for c in range(int(rng.integers(1, 5))):
        runs = rng.random(len(names)) < 0.6
        if c == 0:
            runs[:] = True  # one class runs everything, so any N >= 1 is feasible
        speeds = {n: float(rng.uniform(0.3, 3.0)) for n, r in zip(names, runs, strict=True) if r}
        classes.append(ServerClass(f"class{c}", speeds, slots=int(rng.integers(1, 5))))
    mix = {c.name: float(rng.uniform(0.1, 1.0)) for c in classes}
    network = Network(
        latency=float(rng.uniform(0, 0.05)) if transfers else 0.0, bandwidth_mbps=float(rng.uniform(5, 200))
    )
    spec = ClusterSpec(classes, mix, network)
    n_servers = int(rng.integers(1, 65))
    cluster = spec.make(n_servers, catalogue)
    # Half the setups mix the seven agentic patterns; the others take one pattern each, the three
    # structures included. Mixing all ten adds half again as many tasks to every differential case.
    patterns = list(PATTERNS)
    mix_p = {p: 1.0 for p in AGENTIC} if rng.random() < 0.5 else {patterns[seed % len(patterns)]: 1.0}
    generator = WorkloadGenerator(
        catalogue,
        mix_p,
        rho=float(rng.uniform(0.3, 1.3)),
        num_workflows=int(rng.integers(2, 9)),
        uncertainty=float(rng.choice([0.0, 1.0])),
    )
    if not all((cluster.speed[:, k] > 0).any() for k in range(len(names))):
        # the mix left out every class that runs some type: fall back to the do-everything class
        cluster = Cluster(catalogue, classes, np.zeros(n_servers, dtype=np.int64), network)
    return generator.generate(cluster, seed), cluster


def make_env(pairs: list[tuple[Workload, Cluster]], **kwargs) -> SchedulingEnv:
    return SchedulingEnv(WorkloadBatch.from_pairs(pairs), **kwargs)


def task_table(env: SchedulingEnv, b: int, workload: Workload) -> list[tuple[int, float, float]]:
    """(server, start, finish) of every task of env ``b`` in [workflow][task] order."""
    _, _, m = env.batch.shape
    out = []
    for wi, f in enumerate(workload.workflows):
        for t in range(f.num_tasks):
            i = wi * m + t
            out.append((int(env.server[b, i]), float(env.start[b, i]), float(env.finish[b, i])))
    return out


def first_true(x: torch.Tensor) -> int:
    return int(x.nonzero()[0, 0])


def busy_fractions(workload: Workload, cluster: Cluster) -> dict[int, float]:
    """Each server class's busy fraction over a generated workload's arrival span: every task's expected
    work (plus its latency floor) shared among the classes that run its type by capacity, as the
    generator's rate rule assumes (rho is the largest of these; docs/model.md)."""
    types = np.concatenate([f.types for f in workload.workflows])
    work = np.concatenate([f.expected_work for f in workload.workflows])
    latency = np.array([p.latency for p in workload.catalogue.primitives])
    capacity = (cluster.speed * cluster.slots[:, None]).sum(axis=0)
    span = workload.workflows[-1].arrival
    busy = {}
    for c in np.unique(cluster.server_class):
        speed = cluster.speed[cluster.server_class == c][0]
        runs = speed[types] > 0
        load = (work[runs] + latency[types[runs]] * speed[types[runs]]) / capacity[types[runs]]
        busy[int(c)] = float(load.sum() / span)
    return busy
