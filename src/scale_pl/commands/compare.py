"""Compare the runs of an MLflow experiment: markdown table of ART across N, plots.

Example: ``python -m scale_pl compare --experiment scale_pl --out reports/``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scale_pl.errors import ScaleError
from scale_pl.tracking import tracking_uri


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", default="scale_pl", help="MLflow experiment name")
    parser.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db")
    parser.add_argument("--out", default="compare", help="folder for the plots and table.md")


def run(args: argparse.Namespace) -> int:
    from scale_pl.evaluation.compare import collect, load_runs, markdown, plot

    stats = collect(load_runs(args.tracking_uri or tracking_uri(), args.experiment))
    if not any(s.art for s in stats.values()):
        raise ScaleError(f"experiment {args.experiment!r}: no finished run has final/N*/..._art metrics")
    table = markdown(stats)
    out = Path(args.out)
    paths = plot(stats, out)
    (out / "table.md").write_text(table + "\n")
    print(table)
    print(f"\nwrote {', '.join(str(p) for p in [*paths, out / 'table.md'])}")
    return 0
