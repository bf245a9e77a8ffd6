"""Why a checkpoint loses on one trace family: queue waits per type and class, the time scale, a shield.

    python study/trace_probe.py study/results/ckpt/robust_s1.ckpt --trace srasearch

The numbers of RESULTS.md's "Round 4" (issue 18). On the workloads ``study/shifts.py`` builds from
one trace of tests/data/wfinstances (4 copies per server, Poisson arrivals at rho 0.7, seeds
2,000,000 + i), at N servers, three looks:

1. ``waits``: for EFT and the checkpoint on the first workload, each (task type, server class)
   pair's task count, mean wait for a slot (start - ready) and mean run time (finish - start).
2. ``scale``: ART / EFT's ART with the trace's work scaled by each ``--work-scales`` factor
   (conf/wfformat/default.yaml's ``work_scale``): whether the loss is the time scale.
3. ``shield``: ART / EFT's ART with every server whose believed finish exceeds ``S`` x the best
   one's masked before the checkpoint chooses (``--shields``): whether a few far-off choices are
   the loss, or many moderate ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import yaml

from scale_pl.baselines import make_heuristic
from scale_pl.commands.schedule import capped_run
from scale_pl.evaluation.across_n import evaluate
from scale_pl.evaluation.shifts import TraceWorkloads
from scale_pl.io.policy_loader import load_policy
from scale_pl.models.lean import one_environment_policy
from scale_pl.sim.generators.config import CONF_DIR, load_cluster_spec

TRACES = CONF_DIR.parent / "tests" / "data" / "wfinstances"


class Shield:
    """A policy that only sees the servers whose believed finish is within ``factor`` x the best."""

    def __init__(self, inner, factor: float) -> None:
        self.inner, self.factor = inner, factor

    def reset(self, batch_size: int) -> None:
        self.inner.reset(batch_size)

    def __call__(self, obs):
        finish = torch.where(obs.mask, obs.est_finish, torch.inf)
        keep = obs.mask & (finish <= self.factor * finish.amin(-1, keepdim=True))
        keep = torch.where(keep.any(-1, keepdim=True), keep, obs.mask)
        return self.inner(dataclasses.replace(obs, mask=keep))


def trace_file(family: str) -> Path:
    matches = sorted(TRACES.glob(f"{family}*.json"))
    if len(matches) != 1:
        raise SystemExit(f"error: --trace {family!r} matches {len(matches)} files of {TRACES}")
    return matches[0]


def waits(source: TraceWorkloads, n: int, seed: int, specs: dict[str, str]) -> None:
    cluster = load_cluster_spec().make(n, source.catalogue)
    workload = source.generate(cluster, seed)
    names = source.catalogue.names
    for label, spec in specs.items():
        policy, features = one_environment_policy(load_policy(spec))
        schedule = capped_run(workload, cluster, policy, features, "expected", None).schedule
        art = schedule["metrics"]["avg_response_time"]
        print(f"\n{label}: ART {art:.1f} s (seed {seed}, N={n})")
        print("| type | class | tasks | mean wait (s) | mean run (s) |\n|---|---|---:|---:|---:|")
        cells = defaultdict(list)
        for t in schedule["tasks"]:
            key = (t["type"], t["server"].rsplit("-", 1)[0])  # the class: the server name less its index
            cells[key].append((t["start"] - t["ready"], t["finish"] - t["start"]))
        for (kind, cls), values in sorted(cells.items(), key=lambda kv: (names.index(kv[0][0]), kv[0][1])):
            v = np.array(values)
            print(f"| {kind} | {cls} | {len(v)} | {v[:, 0].mean():.1f} | {v[:, 1].mean():.1f} |")


def ratios(source: TraceWorkloads, n: int, seeds: list[int], policies: dict) -> dict[str, float]:
    rows = evaluate({"eft": lambda: make_heuristic("eft"), **policies}, source, load_cluster_spec(), [n], seeds, cap=0)
    return {r.method: r.art / rows[0].art for r in rows[1:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--trace", default="srasearch", help="trace family (file prefix in tests/data/wfinstances)")
    parser.add_argument("--servers", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=2, help="test workloads of the scale and shield looks")
    parser.add_argument("--work-scales", type=float, nargs="*", default=[0.001, 0.01])
    parser.add_argument("--shields", type=float, nargs="*", default=[1.5, 2.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = trace_file(args.trace)
    seeds = [2_000_000 + i for i in range(args.seeds)]
    source = TraceWorkloads([path], 4)
    waits(source, args.servers, seeds[0], {"eft": "eft", Path(args.checkpoint).stem: args.checkpoint})

    print(f"\nART / EFT's ART, {path.name}, N={args.servers}, {args.seeds} workloads")
    print("| look | ART / EFT |\n|---|---:|")
    base = ratios(source, args.servers, seeds, {"as is": lambda: load_policy(args.checkpoint)})
    print(f"| as is (work scale 1) | {base['as is']:.3f} |")
    mapping = yaml.safe_load((CONF_DIR / "wfformat" / "default.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.work_scales:
            config = Path(tmp) / f"wf_{scale}.yaml"
            config.write_text(yaml.safe_dump({**mapping, "work_scale": scale}))
            scaled = TraceWorkloads([path], 4, wfformat_config=config)
            value = ratios(scaled, args.servers, seeds, {"scaled": lambda: load_policy(args.checkpoint)})["scaled"]
            print(f"| work scale {scale:g} | {value:.3f} |")
    shielded = {f"shield {s:g}": (lambda s=s: Shield(load_policy(args.checkpoint), s)) for s in args.shields}
    for label, value in ratios(source, args.servers, seeds, shielded).items():
        print(f"| {label} | {value:.3f} |")


if __name__ == "__main__":
    main()
