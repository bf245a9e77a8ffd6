#!/usr/bin/env bash
# One training run of the RESULTS.md study: study/run.sh NAME FIT-ARGS...
# Logs to study/logs/NAME.log; marks success with study/logs/NAME.done and skips a run already done.
set -u
name=$1; shift
cd "$(dirname "$0")/.."
mkdir -p study/logs
[ -e "study/logs/$name.done" ] && { echo "$name: done already"; exit 0; }
if OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /usr/bin/time -v "${PYTHON:-.venv/bin/python}" -m scale_pl fit "$@" \
    --trainer.logger.init_args.run_name "$name" > "study/logs/$name.log" 2>&1; then
  touch "study/logs/$name.done"
else
  echo "$name failed: see study/logs/$name.log" >&2
fi
