#!/usr/bin/env bash
# The test protocol of the robustness study (issue 18), for one arm at a time:
#   study/robust.sh ARM STAGE 'NAME=CHECKPOINTS' ...
# ARM names the output files (study/results/ARM_STAGE.json and .md); each 'NAME=GLOB' is one
# method, its files the training seeds (a quoted glob, as `evaluate --checkpoint` takes it).
# Stages (every one also runs eft, rank_eft and least_loaded on the same workloads):
#   sizes    N = 16, 32, 48, 96 (16 test workloads each) and 192, 256 (8 each), rho 0.7
#   loads    rho 0.5 and 0.85 at N = 16 and 96, 16 test workloads each
#   shifts   the unseen patterns (tree_of_thought, map_reduce) and the WfInstances traces of
#            tests/data/wfinstances (families used nowhere in training), N = 16 and 96
#   all      the three above
#   pilot    a quick look for choosing the recipe (study/pilots.txt): N = 16, 96, 256 at 8 test
#            workloads each, and the WfInstances traces and rho 0.85 at N = 16, 4 workloads each
# Test workloads are seeds 2,000,000 + i (validation uses 1,000,000 + 1000 N + i, training others).
# The cap is evaluate's default (a run certain to exceed 10 x EFT's ART is stopped, censored).
# Example: study/robust.sh shipped all 'scale=pretrained/scale_s*.ckpt'
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: study/robust.sh ARM sizes|loads|shifts|all|pilot 'NAME=GLOB' ..." >&2; exit 2; }
arm=$1; stage=$2; shift 2
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=study/results
mkdir -p "$OUT"
HEUR="eft rank_eft least_loaded"

evaluate() {  # NAME EVALUATE-ARGS...: one table, written atomically (a stopped run leaves nothing half-written)
  local name=$1; shift
  "$PYTHON" -m scale_pl evaluate --checkpoint "${METHODS[@]}" --heuristics $HEUR "$@" \
    --json "$OUT/$name.json.part" > "$OUT/$name.md.part"
  mv "$OUT/$name.json.part" "$OUT/$name.json" && mv "$OUT/$name.md.part" "$OUT/$name.md"
}

shifts() {  # NAME SHIFTS-ARGS...: study/shifts.py, written atomically the same way
  local name=$1; shift
  "$PYTHON" study/shifts.py --checkpoint "${METHODS[@]}" "$@" \
    --out "$OUT/$name.md.part" --json "$OUT/$name.json.part"
  mv "$OUT/$name.json.part" "$OUT/$name.json" && mv "$OUT/$name.md.part" "$OUT/$name.md"
}

METHODS=("$@")
run_stage() {
  case "$1" in
    sizes)
      evaluate "${arm}_sizes_small" --sizes 16 32 48 96 --seeds 16
      evaluate "${arm}_sizes_large" --sizes 192 256 --seeds 8 ;;
    loads)
      evaluate "${arm}_rho0.5" --sizes 16 96 --seeds 16 --rho 0.5
      evaluate "${arm}_rho0.85" --sizes 16 96 --seeds 16 --rho 0.85 ;;
    shifts)
      shifts "${arm}_shifts" --settings patterns wfinstances --sizes 16 96 --seeds 8 ;;
    all) run_stage sizes; run_stage loads; run_stage shifts ;;
    pilot)
      evaluate "${arm}_pilot_sizes" --sizes 16 96 256 --seeds 8
      shifts "${arm}_pilot_shifts" --settings wfinstances load_0.85 --sizes 16 --seeds 4 ;;
    *) echo "study/robust.sh: unknown stage '$1' (sizes, loads, shifts, all or pilot)" >&2; exit 2 ;;
  esac
}
run_stage "$stage"
