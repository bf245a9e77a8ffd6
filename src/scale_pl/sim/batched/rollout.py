"""Running a policy through the batched environment: whole episodes and per-task schedules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch

from scale_pl.sim.batched.batch import WorkloadBatch
from scale_pl.sim.batched.censor import ArtCap
from scale_pl.sim.batched.env import SchedulingEnv
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.workload import Workload

SMALL_BATCH = 64  # environments; below this the tensors of a step are too small to split across threads


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads, restoring the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_episode(env: SchedulingEnv, policy, max_steps: int | None = None, cap: ArtCap | None = None) -> torch.Tensor:
    """Step every environment to the end under ``policy``; returns the return ``[B]``.

    With ``cap``, an environment stops at the first decision where its ART is certain to exceed
    ``cap.limit`` (:mod:`~scale_pl.sim.batched.censor`); the others go on, and ``cap`` records
    which stopped, when, and the bound at the stop. A stopped environment's return covers the
    decisions it made.

    Small batches (what `schedule`, `evaluate` and the final evaluation run) use one intra-op
    thread: their tensors are tiny, and threads fighting over them made a one-environment loop
    3x slower on two cores, 5-10x when another process kept a core busy.

    The episode runs in ``torch.inference_mode`` (15-25% less time per step than ``no_grad`` for
    these small tensors): the state tensors the environment creates are inference tensors
    afterwards, readable anywhere but not updatable in place outside inference mode (reset the
    environment, not some of its rows, to reuse it).
    """
    threads = 1 if env.b_idx.numel() <= SMALL_BATCH else torch.get_num_threads()
    with torch.inference_mode(), intra_op_threads(threads):
        return _run(env, policy, max_steps, cap)


def _run(env: SchedulingEnv, policy, max_steps: int | None, cap: ArtCap | None) -> torch.Tensor:
    obs = env.observe()
    if hasattr(policy, "bind"):  # policies that search over copies of the environment
        policy.bind(env)
    policy.reset(obs.batch_size)
    ret = torch.zeros_like(env.busy)
    steps = 0
    while True:
        if cap is not None and cap.check(env):
            obs = replace(obs, done=env.done)  # the stopped environments are done from now on
        if bool(env.done.all()):
            break
        obs, reward, _ = env.step(policy(obs))
        ret += reward
        steps += 1
        if max_steps is not None and steps >= max_steps:
            break
    return ret


@dataclass
class Schedule:
    """What a policy did with one workload: the schedule JSON of docs/formats.md."""

    tasks: list[dict] = field(default_factory=list)
    workflows: list[dict] = field(default_factory=list)
    servers: list[dict] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"tasks": self.tasks, "workflows": self.workflows, "servers": self.servers, "metrics": self.metrics}


def simulate(workload: Workload, cluster: Cluster, policy, **env_kwargs) -> Schedule:
    """Schedule ``workload`` on ``cluster`` with ``policy`` (batch of one) and return the schedule."""
    env = SchedulingEnv(WorkloadBatch.from_pairs([(workload, cluster)]), **env_kwargs)
    run_episode(env, policy)
    _, _, m = env.batch.shape
    names = cluster.server_names
    sched = Schedule()
    for wi, f in enumerate(workload.workflows):
        for t in range(f.num_tasks):
            i = wi * m + t
            sched.tasks.append(
                {
                    "workflow": f.id,
                    "task": f.task_ids[t],
                    "type": workload.catalogue.names[int(f.types[t])],
                    "server": names[int(env.server[0, i])],
                    # ready = last parent's finish, or the arrival for a root (ready_lb holds both)
                    "ready": float(env.ready_lb[0, i]),
                    "start": float(env.start[0, i]),
                    "finish": float(env.finish[0, i]),
                }
            )
        completion = float(env.completion[0, wi])
        sched.workflows.append(
            {"id": f.id, "arrival": f.arrival, "completion": completion, "response_time": completion - f.arrival}
        )
    sched.servers = [
        {"id": name, "class": cluster.classes[int(c)].name, "slots": int(s)}
        for name, c, s in zip(names, cluster.server_class, cluster.slots, strict=True)
    ]
    metrics = {k: float(v[0]) for k, v in env.metrics().items()}
    sched.metrics = {
        "avg_response_time": metrics["art"],
        "p95_response_time": metrics["p95"],
        "p99_response_time": metrics["p99"],
        "mean_slowdown": metrics["slowdown"],
        "utilisation": metrics["utilisation"],
        "lower_bound": metrics["lower_bound"],
        "makespan": metrics["makespan"],
    }
    return sched
