"""Does the strict zero-shot rule choose another checkpoint than the size-aware one? (issue 18)

    python study/zero_shot_check.py study/results/ckpt/*_zero_shot.ckpt

For each NAME_zero_shot.ckpt (``best_zero_shot.ckpt`` of a run: val/select at the training sizes
only) and the NAME.ckpt beside it (``best.ckpt``: the worst ratio over every validation size), one
line: the epoch and optimizer step of each and whether their weights are identical. Identical
weights mean the two rules chose the same checkpoint, so the zero-shot arm's test rows would be the
size-aware arm's; only the runs where they differ need `study/robust.sh` for the zero-shot variant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

SUFFIX = "_zero_shot"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="NAME_zero_shot.ckpt files")
    args = parser.parse_args(argv)
    same = 0
    for zero_shot in args.checkpoints:
        if not zero_shot.stem.endswith(SUFFIX):
            print(f"error: {zero_shot}: not a NAME{SUFFIX}.ckpt file", file=sys.stderr)
            return 2
        best = zero_shot.with_name(zero_shot.stem[: -len(SUFFIX)] + zero_shot.suffix)
        if not best.is_file():
            print(f"error: {best}: no such file (the size-aware checkpoint beside {zero_shot.name})", file=sys.stderr)
            return 2
        a, b = (torch.load(p, map_location="cpu", weights_only=False) for p in (best, zero_shot))
        equal = a["state_dict"].keys() == b["state_dict"].keys() and all(
            torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"]
        )
        same += equal
        verdict = "the same checkpoint" if equal else "different"
        print(f"{best.stem}: size-aware epoch {a.get('epoch')} step {a.get('global_step')}, "
              f"zero-shot epoch {b.get('epoch')} step {b.get('global_step')}: {verdict}")  # fmt: skip
    print(f"{same} of {len(args.checkpoints)} runs: the two rules chose the same checkpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
