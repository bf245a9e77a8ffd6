#!/usr/bin/env bash
# The RESULTS.md study: every run of study/runs.txt, two at a time (one thread each; 2 cores).
#   study/run_all.sh     # about 2.5 hours on 2 cores; a rerun skips the runs already done
# Runs log to the MLflow store of the repo root (MLFLOW_TRACKING_URI, default sqlite:///mlflow.db);
# then: python -m scale_pl compare --experiment scale_pl --out study/compare
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
# Create the store's tables once: two runs creating a fresh sqlite store at the same time collide.
"$PYTHON" -c "import mlflow; from scale_pl.tracking import tracking_uri; mlflow.MlflowClient(tracking_uri()).search_experiments()"
grep -v -e '^#' -e '^$' study/runs.txt | xargs -P "${JOBS:-2}" -L 1 study/run.sh
