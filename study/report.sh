#!/usr/bin/env bash
# The RESULTS.md tables from the finished study runs (study/run_all.sh), one stage at a time:
#   study/report.sh export      # best checkpoints: main runs -> pretrained/, the others -> study/out/ckpt/
#   study/report.sh main        # SCALE and no-SRR, 5 seeds, N = 16..128, 16 test workloads per N (+ paired SRR gain)
#   study/report.sh lookahead   # lookahead:10 at N=16 on the same workloads
#   study/report.sh encoders    # the six encoders at N=16
#   study/report.sh sum         # the regime where z shifts with N: summed attention, with and without SRR
#   study/report.sh shifts      # load, pattern and trace shifts (study/shifts.py)
#   study/report.sh stability   # best and final validation ART of every run
# Outputs go to study/out/ (markdown tables and the JSON rows they come from).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=study/out
mkdir -p "$OUT"
MAIN="scale_s0 scale_s1 scale_s2 scale_s3 scale_s4 no_srr_s0 no_srr_s1 no_srr_s2 no_srr_s3 no_srr_s4"
OTHERS="scale_gatv2 scale_gcn scale_sage scale_transformer scale_mlp scale_sum_s0 no_srr_sum_s0 scale_patterns_s0"
SIZES="16 32 48 64 128"
case "${1:-}" in
  export)
    "$PYTHON" study/export_checkpoints.py $MAIN --out pretrained
    "$PYTHON" study/export_checkpoints.py $OTHERS --out "$OUT/ckpt" ;;
  main)  # the two methods in parallel (one core each), then the SRR gain paired by seed
    "$PYTHON" -m scale_pl evaluate --checkpoint 'scale=pretrained/scale_s*.ckpt' --sizes $SIZES --seeds 16 \
      --heuristics eft rank_eft least_loaded --json "$OUT/main_scale.json" > "$OUT/main_scale.md" &
    scale_pid=$!
    "$PYTHON" -m scale_pl evaluate --checkpoint 'no_srr=pretrained/no_srr_s*.ckpt' --sizes $SIZES --seeds 16 \
      --heuristics eft --json "$OUT/main_no_srr.json" > "$OUT/main_no_srr.md"
    wait "$scale_pid"
    "$PYTHON" study/paired_gain.py "$OUT/main_scale.json" "$OUT/main_no_srr.json" | tee "$OUT/paired.md" ;;
  lookahead)
    "$PYTHON" -m scale_pl evaluate --sizes 16 --seeds 16 --heuristics eft lookahead:10 \
      --json "$OUT/lookahead.json" | tee "$OUT/lookahead.md" ;;
  encoders)
    "$PYTHON" -m scale_pl evaluate --checkpoint gin=pretrained/scale_s0.ckpt gatv2=$OUT/ckpt/scale_gatv2.ckpt \
      gcn=$OUT/ckpt/scale_gcn.ckpt sage=$OUT/ckpt/scale_sage.ckpt transformer=$OUT/ckpt/scale_transformer.ckpt \
      mlp=$OUT/ckpt/scale_mlp.ckpt --sizes 16 --seeds 16 --heuristics eft rank_eft \
      --json "$OUT/encoders.json" | tee "$OUT/encoders.md" ;;
  sum)
    "$PYTHON" -m scale_pl evaluate --checkpoint scale_sum=$OUT/ckpt/scale_sum_s0.ckpt \
      no_srr_sum=$OUT/ckpt/no_srr_sum_s0.ckpt --sizes $SIZES --seeds 8 --heuristics eft \
      --json "$OUT/sum.json" | tee "$OUT/sum.md" ;;
  shifts)
    "$PYTHON" study/shifts.py --checkpoint 'scale=pretrained/scale_s*.ckpt' --seeds 4 \
      --settings load_0.5 load_0.85 wfinstances --out "$OUT/shifts.md" --json "$OUT/shifts.json"
    "$PYTHON" study/shifts.py --checkpoint 'scale=pretrained/scale_s*.ckpt' \
      "scale_patterns=$OUT/ckpt/scale_patterns_s0.ckpt" --seeds 4 --settings patterns \
      --out "$OUT/shifts_patterns.md" --json "$OUT/shifts_patterns.json" ;;
  stability)
    "$PYTHON" study/stability.py $MAIN $OTHERS --out "$OUT/stability.md" ;;
  *) echo "usage: study/report.sh export|main|lookahead|encoders|sum|shifts|stability" >&2; exit 2 ;;
esac
