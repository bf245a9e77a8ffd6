"""Schedule a workload on a cluster with a policy; write the schedule JSON (and a Gantt chart).

Example: ``python -m scale_pl schedule --workload W.json --cluster C.yaml --policy eft --out S.json``

Runs on the one-environment engine (:mod:`scale_pl.sim.single`), the placement service's own, so
``replay`` against ``serve`` gives this schedule exactly. With ``--cap K`` (default 10) EFT runs
first on the same workload, and a run certain to end above K x EFT's ART is stopped there
(censored): the JSON then holds the tasks placed so far and says so in its metrics.
"""

from __future__ import annotations

import argparse

from scale_pl.baselines import EarliestFinishTime
from scale_pl.errors import ScaleError
from scale_pl.io.atomic import check_writable, staged_outputs
from scale_pl.io.cluster_file import load_cluster
from scale_pl.io.gantt import COLOR_BY, gantt_format, plot_gantt, save_gantt
from scale_pl.io.json_text import dumps_expanded
from scale_pl.io.policy_loader import load_policy
from scale_pl.io.workload_sources import load_workload
from scale_pl.models.lean import one_environment_policy
from scale_pl.sim.single.run import Run, run_workload
from scale_pl.sim.single.scheduler import INFORMATION
from scale_pl.sim.system.cluster import Cluster
from scale_pl.sim.system.workload import Workload


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workload",
        nargs="+",
        required=True,
        metavar="W",
        help="workload file(s): scale_pl JSON or WfCommons WfFormat traces (told apart by content)",
    )
    parser.add_argument("--cluster", required=True, metavar="C", help="cluster file (YAML or JSON, a count per class)")
    parser.add_argument(
        "--policy",
        required=True,
        metavar="NAME|PATH.ckpt",
        help="a heuristic (random, round_robin, least_loaded, eft, rank_eft) or a checkpoint"
        " (PATH.ckpt@eft:3:10: anchored on load; A.ckpt+B.ckpt: several voting)",
    )
    parser.add_argument("--out", required=True, help="schedule JSON to write")
    parser.add_argument("--gantt", default=None, help="also draw a Gantt chart (.png, .pdf or .svg)")
    parser.add_argument("--color-by", choices=COLOR_BY, default="type", help="Gantt bar colours (default: type)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy and of --arrival-rate")
    parser.add_argument(
        "--workload-config",
        "--catalogue",
        dest="workload_config",
        default=None,
        help="catalogue for files that embed none (default conf/workload/default.yaml)",
    )
    parser.add_argument(
        "--wfformat-config", default=None, help="WfFormat program-to-type mapping (default conf/wfformat/default.yaml)"
    )
    arrivals = parser.add_mutually_exclusive_group()
    arrivals.add_argument(
        "--arrivals",
        type=_floats,
        default=None,
        metavar="T1,T2,...",
        help="arrival times of the WfFormat traces, one per trace (default: all at 0)",
    )
    arrivals.add_argument(
        "--arrival-rate",
        type=float,
        default=None,
        metavar="R",
        help="or Poisson arrivals of the WfFormat traces, R per second (seeded by --seed)",
    )
    parser.add_argument(
        "--information", choices=INFORMATION, default="expected",
        help="what the scheduler knows of the servers' queues (default: expected; exact_queue is optimistic)",
    )  # fmt: skip
    parser.add_argument(
        "--servers",
        type=int,
        default=None,
        help="N, only when --cluster is a class-mix config such as conf/cluster/default.yaml",
    )
    parser.add_argument(
        "--cap", type=_cap, default=10.0, metavar="K",
        help="stop a run certain to end above K x EFT's ART on this workload (default 10; 0 or none: never)",
    )  # fmt: skip


def _cap(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a factor >= 0 or 'none', got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a factor >= 0 or 'none', got {text!r}")
    return value or None


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    out = check_writable(args.out, "--out")
    gantt = check_writable(args.gantt, "--gantt") if args.gantt else None
    if gantt is not None:
        gantt_format(gantt)
        if gantt.resolve() == out.resolve():
            raise ScaleError("--out and --gantt name the same file")
    policy, features = one_environment_policy(load_policy(args.policy, seed=args.seed))
    workload, cluster = workload_and_cluster(args)
    result = capped_run(workload, cluster, policy, features, args.information, args.cap)
    schedule = result.schedule
    text = dumps_expanded(schedule, 2) + "\n"  # one task per line
    figure = plot_gantt(schedule, args.color_by) if gantt is not None else None
    with staged_outputs() as stage:
        stage(out, lambda tmp: tmp.write_text(text))
        if gantt is not None:
            stage(gantt, lambda tmp: save_gantt(figure, tmp, gantt_format(gantt)))
    m = schedule["metrics"]
    if result.censored:
        print(
            f"censored: the ART is certain to exceed {args.cap:g} x EFT ({m['art_lower_bound']:.3f} s > "
            f"{m['cap']:.3f} s) after {result.decisions} of {workload.num_tasks} decisions; wrote {out} with the "
            "tasks placed so far"
        )
    else:
        print(
            f"wrote {out}: {len(schedule['tasks'])} tasks of {len(schedule['workflows'])} workflows on "
            f"{cluster.num_servers} servers, ART {m['avg_response_time']:.3f} s, p95 {m['p95_response_time']:.3f} s"
        )
    if gantt is not None:
        print(f"wrote {gantt}")
    return 0


def capped_run(
    workload: Workload, cluster: Cluster, policy, features: bool, information: str, cap: float | None
) -> Run:
    """``policy``'s run, censored above ``cap`` x the ART of EFT on the same workload (None: never)."""
    limit = None
    if cap is not None:
        eft = run_workload(workload, cluster, EarliestFinishTime(), information, features=False)
        limit = cap * eft.schedule["metrics"]["avg_response_time"]
    return run_workload(workload, cluster, policy, information, features, cap=limit)


def workload_and_cluster(args: argparse.Namespace) -> tuple[Workload, Cluster]:
    """The workload files and the cluster file of the command line (shared with ``replay``), checked runnable."""
    workload = load_workload(
        args.workload,
        workload_config=args.workload_config,
        wfformat_config=args.wfformat_config,
        arrivals=args.arrivals,
        arrival_rate=args.arrival_rate,
        seed=args.seed,
    )
    cluster = load_cluster(args.cluster, workload.catalogue, args.servers)
    check_feasible(workload, cluster, args.cluster, args.workload)
    return workload, cluster


def check_feasible(workload: Workload, cluster: Cluster, cluster_path: str, workload_paths: list[str]) -> None:
    """A one-line error naming the cluster file, the type and a task of it if no server can run that type."""
    runnable = (cluster.speed > 0).any(axis=0)
    for f in workload.workflows:
        for t, k in enumerate(f.types.tolist()):
            if not runnable[k]:
                raise ScaleError(
                    f"{cluster_path}: no server can run type {workload.catalogue.names[k]!r} "
                    f"(task {f.task_ids[t]!r} of workflow {f.id!r} in {', '.join(map(str, workload_paths))})"
                )
