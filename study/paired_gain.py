"""Per-seed ratios to EFT and the SRR gain paired by training seed, from `evaluate --json` rows.

    python -m scale_pl evaluate --checkpoint 'scale=pretrained/scale_s*.ckpt' \
        'no_srr=pretrained/no_srr_s*.ckpt' --sizes 16 32 48 64 128 --json main.json
    python study/paired_gain.py main.json [more.json ...]   # the rows of several files are pooled

Seed i of SCALE and of SCALE without SRR share the initial weights and the training workloads, so
the difference of their ART on the same test workloads is a paired comparison.
"""

from __future__ import annotations

import json
import sys

from scale_pl.evaluation.stats import iqm_interval


def main(paths: list[str]) -> None:
    rows = []
    for path in paths:
        with open(path) as f:
            rows += json.load(f)
    art = {(r["method"], r["num_servers"]): r["art"] for r in rows}
    members = {g: sorted(r["method"] for r in rows if r["group"] == g and r["num_servers"] == rows[0]["num_servers"])
               for g in ("scale", "no_srr")}  # fmt: skip
    print("| N | SCALE / EFT per seed | no SRR / EFT per seed | SRR gain per seed (%) | IQM gain [95% interval] (%) |")
    print("|---:|---|---|---|---:|")
    for n in sorted({r["num_servers"] for r in rows}):
        eft = art["eft", n]
        srr = [art[m, n] for m in members["scale"]]
        plain = [art[m, n] for m in members["no_srr"]]
        gains = [100 * (b - a) / b for a, b in zip(srr, plain, strict=True)]
        gain = iqm_interval(gains)
        summary = f"{gain.iqm:+.1f} [{gain.low:+.1f}, {gain.high:+.1f}]"
        print(f"| {n} | {', '.join(f'{a / eft:.3f}' for a in srr)} | {', '.join(f'{b / eft:.3f}' for b in plain)} | "
              f"{', '.join(f'{g:+.1f}' for g in gains)} | {summary} |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
