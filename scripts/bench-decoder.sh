#!/usr/bin/env bash
# Decoder forward time: nsbg core (pure Rust, f32) against PyTorch's CPU kernels (libtorch, same shapes,
# same thread count), in one run.
#
#   scripts/bench-decoder.sh            # paper + small presets of the level-1 wavelet decoder, 1 and all threads
#
# 1. builds core's decoder benchmark (`core/benches/decoder.rs`) in release;
# 2. times `WaveletNet::forward` (random weights through a TensorSource) per config and thread count;
# 3. scripts/bench_decoder_torch.py times the same networks in PyTorch (eval, inference_mode, batch 1,
#    torch.set_num_threads(t)), eager and, with FROZEN=1, also jit-frozen (conv+BN folded like nsbg);
# 4. repeats steps 2–3 ROUNDS times, interleaved (machine load drifts), keeps each side's best median;
# 5. prints one table: config, threads, nsbg ms, torch ms, ratio (torch / nsbg: > 1 means nsbg is
#    faster), nsbg GFLOP/s (direct-convolution FLOPs / time), peak workspace bytes (all nsbg allocates
#    per decode beyond weights, input and output).
#
# Knobs: CONFIGS (paper,small; also pixel), THREADS (1,<nproc>), SECONDS (3, minimum timing per row),
# ROUNDS (2), FROZEN (0), OUT (out/bench), NSBG_VENV (default ~/.cache/nsbg/venv-torch-2.13.0, made by
# scripts/setup.sh), PYTHON (interpreter, overrides NSBG_VENV), NSBG_NN_ISA (force scalar/avx2/avx512).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NPROC=$(nproc 2>/dev/null || echo 1)
CONFIGS=${CONFIGS:-paper,small}
if [ "$NPROC" -gt 1 ]; then THREADS=${THREADS:-1,$NPROC}; else THREADS=${THREADS:-1}; fi
SECONDS_PER_ROW=${SECONDS:-3}
ROUNDS=${ROUNDS:-2}
FROZEN=${FROZEN:-0}
OUT=${OUT:-$ROOT/out/bench}
VENV=${NSBG_VENV:-$HOME/.cache/nsbg/venv-torch-2.13.0}
PYTHON=${PYTHON:-$VENV/bin/python}

if [ ! -x "$PYTHON" ] || ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "bench-decoder: no PyTorch at $PYTHON (run scripts/setup.sh, or set NSBG_VENV / PYTHON)" >&2
  exit 1
fi

echo "[bench-decoder] building core's decoder benchmark (release)" >&2
BIN=$(cargo test --release --quiet --manifest-path "$ROOT/Cargo.toml" -p nsbg-core --features std \
  --bench decoder --no-run --message-format=json 2>/dev/null |
  "$PYTHON" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "decoder" and m.get("executable"):
        print(m["executable"])')
if [ -z "$BIN" ]; then
  echo "bench-decoder: build failed" >&2
  cargo test --release --manifest-path "$ROOT/Cargo.toml" -p nsbg-core --features std --bench decoder --no-run
  exit 1
fi

mkdir -p "$OUT"
: >"$OUT/decoder-nsbg.jsonl"
: >"$OUT/decoder-torch.jsonl"
FROZEN_ARG=()
[ "$FROZEN" = 1 ] && FROZEN_ARG=(--frozen)
for round in $(seq 1 "$ROUNDS"); do
  echo "[bench-decoder] round $round/$ROUNDS: nsbg core (load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null))" >&2
  NSBG_BENCH_DECODER=1 NSBG_BENCH_CONFIGS=$CONFIGS NSBG_BENCH_THREADS=$THREADS NSBG_BENCH_SECONDS=$SECONDS_PER_ROW \
    "$BIN" decoder_forward --exact --nocapture --test-threads 1 | sed -n 's/^.*BENCH //p' >>"$OUT/decoder-nsbg.jsonl"
  echo "[bench-decoder] round $round/$ROUNDS: PyTorch" >&2
  "$PYTHON" "$ROOT/scripts/bench_decoder_torch.py" --configs "$CONFIGS" --threads "$THREADS" \
    --seconds "$SECONDS_PER_ROW" "${FROZEN_ARG[@]}" 2>/dev/null | sed -n 's/^TORCH //p' >>"$OUT/decoder-torch.jsonl"
done

"$PYTHON" - "$OUT/decoder-nsbg.jsonl" "$OUT/decoder-torch.jsonl" "$OUT/decoder-summary.json" <<'PY'
import json, sys
nsbg = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
torch = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
best = {}
for r in nsbg:
    k = (r["config"], r["threads"])
    if k not in best or r["ms"] < best[k]["ms"]:
        best[k] = r
tbest = {}
for r in torch:
    k = (r["config"], r["threads"], r["variant"])
    if k not in tbest or r["ms"] < tbest[k]["ms"]:
        tbest[k] = r
variants = sorted({k[2] for k in tbest}, key=lambda v: v != "eager")
head = f"{'config':8} {'threads':>7} {'nsbg ms':>9}"
for v in variants:
    head += f" {'torch ms' if v == 'eager' else 'torch ' + v:>12} {'ratio':>6}"
head += f" {'GFLOP/s':>8} {'GFLOP':>7} {'workspace B':>12} {'weights B':>11} {'isa':>6}"
print(head)
rows = []
for (cfg, t), r in sorted(best.items(), key=lambda kv: (kv[0][0] != "paper", kv[0])):
    line = f"{cfg:8} {t:7d} {r['ms']:9.2f}"
    row = dict(config=cfg, threads=t, nsbg_ms=r["ms"], nsbg_min_ms=r["min_ms"], gflops=r["gflops"],
               gflop=r["gflop"], workspace_bytes=r["workspace_bytes"], weight_bytes=r["weight_bytes"],
               params=r["params"], isa=r["isa"])
    for v in variants:
        tr = tbest.get((cfg, t, v))
        if tr:
            line += f" {tr['ms']:12.2f} {tr['ms'] / r['ms']:6.2f}"
            row[f"torch_{v}_ms"] = tr["ms"]
            row[f"ratio_{v}"] = tr["ms"] / r["ms"]
        else:
            line += f" {'-':>12} {'-':>6}"
    line += f" {r['gflops']:8.1f} {r['gflop']:7.2f} {r['workspace_bytes']:12d} {r['weight_bytes']:11d} {r['isa']:>6}"
    print(line)
    rows.append(row)
json.dump(rows, open(sys.argv[3], "w"), indent=1)
print("(ms = best per-round median; ratio = torch ms / nsbg ms, > 1: nsbg faster)")
PY
echo "[bench-decoder] JSON: $OUT/decoder-{nsbg,torch}.jsonl, $OUT/decoder-summary.json" >&2
