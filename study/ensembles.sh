#!/usr/bin/env bash
# The robust recipe's seeds voting (issue 18; pretrained/README.md's recommendation):
#   study/ensembles.sh all    the 5-seed ensemble through the whole test protocol (study/robust.sh ens_robust)
#   study/ensembles.sh loo    the 5 leave-one-out ensembles (4 seeds each) on the WfInstances traces,
#                             N = 16 and 96, 8 test workloads: how much the vote depends on one seed
# Rows in study/results/ens_robust_*.json and ens_loo_{a,b}_shifts.json (two processes side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
C=study/results/ckpt
OUT=study/results
case "${1:-}" in
  all)
    study/robust.sh ens_robust all "ens_robust=$C/robust_s[0-4].ckpt+" ;;
  loo)
    specs=()
    for k in 0 1 2 3 4; do
      members=()
      for s in 0 1 2 3 4; do [ "$s" = "$k" ] || members+=("$C/robust_s$s.ckpt"); done
      specs+=("loo_no_s$k=$(IFS=+; echo "${members[*]}")")
    done
    loo() {  # NAME SPECS...: study/shifts.py, written atomically
      local name=$1; shift
      "$PYTHON" study/shifts.py --checkpoint "$@" --settings wfinstances --sizes 16 96 --seeds 8 \
        --out "$OUT/$name.md.part" --json "$OUT/$name.json.part"
      mv "$OUT/$name.json.part" "$OUT/$name.json" && mv "$OUT/$name.md.part" "$OUT/$name.md"
    }
    loo ens_loo_a_shifts "${specs[@]:0:3}" &
    loo ens_loo_b_shifts "${specs[@]:3:2}" &
    wait ;;
  *) echo "usage: study/ensembles.sh all|loo" >&2; exit 2 ;;
esac
