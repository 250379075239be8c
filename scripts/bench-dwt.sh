#!/usr/bin/env bash
# nsbg's bior2.2 transform against PyWavelets, in one run, one thread each.
#
#   scripts/bench-dwt.sh            # sizes 1024,4096, level 3, 7 repetitions
#
# 1. builds nsbg-host in release;
# 2. `nsbg-host bench-dwt`: dwt2/idwt2 (periodization, f32/f64) + this machine's memcpy bandwidth;
# 3. scripts/bench_pywt.py: pywt.wavedec2/waverec2 (bior2.2, periodization) on the same sizes/dtypes;
# 4. prints one table: size, dtype, direction, nsbg ms, pywt ms, speed-up, nsbg GB/s, memcpy GB/s, % of memcpy.
#
# Both run pinned to one CPU (taskset, when available) with every BLAS/OpenMP thread count set to 1.
# Knobs: SIZES (1024,4096), LEVELS (3), REPEAT (7), OUT (out/bench), NSBG_VENV (python venv; default
# ~/.cache/nsbg/venv-torch-2.13.0, made by scripts/setup.sh), PYTHON (interpreter, overrides NSBG_VENV),
# CPU (core to pin to, 0), NSBG_HOST_BIN (use this binary instead of building one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${SIZES:-1024,4096}
LEVELS=${LEVELS:-3}
REPEAT=${REPEAT:-7}
OUT=${OUT:-$ROOT/out/bench}
CPU=${CPU:-0}
VENV=${NSBG_VENV:-$HOME/.cache/nsbg/venv-torch-2.13.0}
PYTHON=${PYTHON:-$VENV/bin/python}

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1 \
  VECLIB_MAXIMUM_THREADS=1 BLIS_NUM_THREADS=1 RAYON_NUM_THREADS=1

if [ ! -x "$PYTHON" ]; then
  echo "bench-dwt: no Python interpreter at $PYTHON (run scripts/setup.sh, or set NSBG_VENV / PYTHON)" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import numpy, pywt' 2>/dev/null; then
  echo "bench-dwt: $PYTHON lacks numpy/PyWavelets (run scripts/setup.sh)" >&2
  exit 1
fi

if [ -n "${NSBG_HOST_BIN:-}" ]; then
  BIN=$NSBG_HOST_BIN
else
  echo "[bench-dwt] building nsbg-host (release)" >&2
  cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p nsbg-host
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/nsbg-host
fi

PIN=()
if command -v taskset >/dev/null 2>&1 && taskset -c "$CPU" true 2>/dev/null; then
  PIN=(taskset -c "$CPU")
fi

mkdir -p "$OUT"
echo "[bench-dwt] nsbg-host bench-dwt (${PIN[*]:-unpinned})" >&2
"${PIN[@]}" "$BIN" bench-dwt --sizes "$SIZES" --levels "$LEVELS" --repeat "$REPEAT" --json "$OUT/nsbg.json" >&2
echo "[bench-dwt] PyWavelets reference ($PYTHON)" >&2
"${PIN[@]}" "$PYTHON" "$ROOT/scripts/bench_pywt.py" --sizes "$SIZES" --levels "$LEVELS" --repeat "$REPEAT" \
  --json "$OUT/pywt.json" --nsbg-json "$OUT/nsbg.json" --summary-json "$OUT/summary.json"
echo "[bench-dwt] JSON: $OUT/{nsbg,pywt,summary}.json" >&2
