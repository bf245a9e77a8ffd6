"""``notebooks/scale_generalization.ipynb`` executed on a tiny real training run, as a kernel would run it."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat

from scale_pl.evaluation.compare import method_label
from tests.training.fitting import CHECKPOINT_CALLBACK, EXPERIMENT, REPO, create_store, fit_args, run_cli, runs

NOTEBOOK = REPO / "notebooks" / "scale_generalization.ipynb"
FINAL_EVALUATION = {  # two small sizes, so that the tables and plots have more than one N
    "class_path": "scale_pl.evaluation.callback.FinalEvaluation",
    "init_args": {"sizes": [4, 8], "seeds": 1, "workflows_per_server": 1, "heuristics": ["eft", "rank_eft"]},
}


def _outputs(nb) -> list[dict]:
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def test_notebook_shows_the_table_ratios_and_plots_of_a_run(tmp_path: Path, monkeypatch) -> None:
    fit = tmp_path / "fit"
    fit.mkdir()
    uri = f"sqlite:///{create_store(fit)}"
    result = run_cli(fit_args(callbacks=[CHECKPOINT_CALLBACK, FINAL_EVALUATION]), fit, uri)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = runs(uri)
    final = run.data.metrics
    assert {f"final/N{n}/{m}_art" for n in (4, 8) for m in ("scale", "eft", "rank_eft")} <= set(final)
    label = method_label(run.data.tags)
    assert label == "scale[quickstart, GINEncoder, srr on]"

    monkeypatch.setenv("SCALE_PL_TRACKING_URI", uri)
    monkeypatch.setenv("SCALE_PL_EXPERIMENT", EXPERIMENT)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells), "the notebook is stored without outputs"
    resources = {"metadata": {"path": str(tmp_path)}}  # the kernel's working directory
    # A failing cell raises CellExecutionError.
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources=resources).execute()

    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    tables = [o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert len(tables) == 2  # ART with intervals, then the ratios to EFT
    art, ratios = tables
    assert art.startswith("| method | runs | N=4 ART (s) | N=8 ART (s) |")
    assert f"| {label} | 1 |" in art
    assert "| eft | - |" in art and "| rank_eft | - |" in art
    ratio_rows = {line.split(" | ")[0].removeprefix("| "): line for line in ratios.splitlines()}
    assert ratio_rows["eft"] == "| eft | 1.000 | 1.000 |"
    scale = [f"{final[f'final/N{n}/scale_art'] / final[f'final/N{n}/eft_art']:.3f}" for n in (4, 8)]
    assert ratio_rows[label] == f"| {label} | {scale[0]} | {scale[1]} |"
    assert "rank_eft" in ratio_rows
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 2  # ART vs N, z statistics vs N
    # The notebook read the temporary store only: nothing was written where the kernel ran.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit"]
