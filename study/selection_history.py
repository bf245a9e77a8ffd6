"""Where in training each run's selection figure was lowest, and how far it ended above that.

    python study/selection_history.py study/results/robust_selection.json study/results/ablation_selection.json

Reads the ``--json`` files of study/recommend.py (each run's whole ``val/select`` history: the worst
ART / EFT over the validation sizes, averaged over the last validations) and prints one row per
run: its minimum, at which validation of how many, the last value and the rise from the minimum.
The last line counts the runs that ended more than ``--margin`` above their minimum: training that
went on past the chosen checkpoint and made the policy worse on the validation workloads.
"""

from __future__ import annotations

import argparse
import json
import sys


def history_rows(files: list[str]) -> list[dict]:
    rows: dict[str, dict] = {}
    for path in files:
        with open(path) as f:
            for row in json.load(f)["rows"]:
                if not row.get("history"):
                    raise ValueError(f"{path}: run {row['run']!r} has no val/select history")
                rows[row["run"]] = row  # a run in several files: the last file's row
    out = []
    for name, row in rows.items():
        values = [value for _, value in sorted(row["history"])]
        best = min(range(len(values)), key=lambda i: (values[i], i))
        out.append({"run": name, "min": values[best], "at": best + 1, "validations": len(values),
                    "last": values[-1], "rise": values[-1] - values[best]})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="study/recommend.py --json files")
    parser.add_argument("--margin", type=float, default=0.02, help="a rise above this counts (default 0.02)")
    args = parser.parse_args(argv)
    try:
        rows = history_rows(args.files)
    except (OSError, ValueError, KeyError) as error:
        parser.exit(2, f"error: {error}\n")
    print("| run | val/select (min) | at validation | last | rise |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['min']:.3f} | {r['at']} of {r['validations']} | {r['last']:.3f} | {r['rise']:+.3f} |")
    risen = sum(r["rise"] > args.margin for r in rows)
    first_half = sum(r["at"] <= r["validations"] // 2 for r in rows)
    print(f"\n{risen} of {len(rows)} runs ended more than {args.margin} above their minimum; "
          f"{first_half} of {len(rows)} reached it in the first half of training")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
