#!/usr/bin/env bash
# Re-creates the shipped small decoders and their reconstruction table:
#   1. trains the `small` NSBG decoder (level 1, then level 2 on the true LL1) and the `small` NSBG-PIXEL
#      decoder (level 1, level 2) on shared/data/photos/train for a fixed number of steps each (so the
#      result does not depend on the machine's load), holding 5 of its 36 source pictures out;
#   2. exports weights/nsbg-small.safetensors and weights/nsbg-pixel-small.safetensors (f16), each
#      level's model of lowest loss on the held-out pictures (`export --best`; validated every 100
#      steps), and, for comparison, the last checkpoints (out/train-small/*-last.safetensors);
#      photos/val is never looked at before step 3. All four networks use the same recipe: the
#      `small` preset with its 8 dihedral views of each training image.
#   3. runs eval-recon on photos/val and photos/train for both (out/train-small/eval-*/).
#
# Knobs (environment): NSBG_STEPS (steps of NSBG L1, L2, PIXEL L1, L2; default "1000 700 700 270",
# 9–21 minutes each on 2 shared cores, 55 minutes in all on 2026-12-04), NSBG_BUDGET_MIN (optional
# wall-clock cap per network), NSBG_RUNS (run folders, default out/train-small), NSBG_THREADS
# (libtorch threads, default 0 = all cores), NSBG_SEED (0), NSBG_RESUME=1 (continue existing runs
# instead of starting over), NSBG_SKIP_TRAIN=1 (export + eval only).
# The machine is assumed shared: training runs under `nice -n 10`; step counts (not wall-clock) fix the
# result. The `small` preset trains on the 8 dihedral views of each image (`augment = true`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

read -r s1 s2 p1 p2 <<< "${NSBG_STEPS:-1000 700 700 270}"
cap=()
if [ -n "${NSBG_BUDGET_MIN:-}" ]; then cap=(--time-budget "$NSBG_BUDGET_MIN"); fi
runs=${NSBG_RUNS:-$root/out/train-small}
threads=${NSBG_THREADS:-0}
seed=${NSBG_SEED:-0}
# shellcheck source=lib/experiment.sh
source "$root/scripts/lib/experiment.sh"

common=(--preset small --seed "$seed" "${cap[@]}" --threads "$threads"
        --data "$photos/train" --holdout 5 --cache "$runs/cache" "${again[@]}")

if [ "${NSBG_SKIP_TRAIN:-0}" != 1 ]; then
  {
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$bin" torch-info
  } >> "$log"
  run nice -n 10 "$bin" train-decoder --level 1 --steps "$s1" --out "$runs/nsbg-l1" "${common[@]}"
  run nice -n 10 "$bin" train-decoder --level 2 --steps "$s2" --level2-input gt --out "$runs/nsbg-l2" "${common[@]}"
  run nice -n 10 "$bin" train-pixel --level 1 --steps "$p1" --out "$runs/pixel-l1" "${common[@]}"
  run nice -n 10 "$bin" train-pixel --level 2 --steps "$p2" --out "$runs/pixel-l2" "${common[@]}"
fi

mkdir -p weights
run "$bin" export "$runs/nsbg-l1" "$runs/nsbg-l2" --best --dtype f16 --out weights/nsbg-small.safetensors
run "$bin" export "$runs/pixel-l1" "$runs/pixel-l2" --best --dtype f16 --out weights/nsbg-pixel-small.safetensors
run "$bin" export "$runs/nsbg-l1" "$runs/nsbg-l2" --out "$runs/nsbg-small-last.safetensors"
run "$bin" export "$runs/pixel-l1" "$runs/pixel-l2" --out "$runs/nsbg-pixel-small-last.safetensors"
for split in val train; do
  run "$bin" eval-recon --weights weights/nsbg-small.safetensors \
    --pixel-weights weights/nsbg-pixel-small.safetensors \
    --data "$photos/$split" --out "$runs/eval-$split" --threads "$threads"
  run "$bin" eval-recon --weights "$runs/nsbg-small-last.safetensors" \
    --pixel-weights "$runs/nsbg-pixel-small-last.safetensors" \
    --data "$photos/$split" --out "$runs/eval-$split-last" --threads "$threads"
done
echo "done: weights/nsbg-small.safetensors, weights/nsbg-pixel-small.safetensors, $runs/eval-*/eval-recon.md"
