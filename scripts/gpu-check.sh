#!/usr/bin/env bash
# GPU check of nsbg (issue 7): on a machine with an NVIDIA GPU, in under 8 minutes, it
#   1. gets a CUDA build of nsbg-host (features cuda,nccl) — built here with cargo, or a prebuilt
#      bundle carried to a machine without a Rust toolchain or network (see "Bundle" below);
#   2. asserts that libtorch's CUDA backend is really loaded (tch::Cuda::is_available(); the
#      --as-needed trap of issue 4 §1) and prints the driver's view (name, memory, compute, power);
#   3. runs the GPU-gated tests (tensor-op DWT vs nsbg-core on CUDA, CUDA training, 2-GPU NCCL run);
#   4. trains each network briefly on CUDA (NSBG level 1, NSBG-PIXEL level 1, and train-sampler if
#      this build has it) in f32 and bf16: images/s, peak device memory, power;
#   5. --gpus N data parallel (NCCL) when the machine has N >= 2 GPUs;
#   6. bench-dwt --device cuda: the tensor-op transform and the training data path vs nsbg-core;
# and writes everything to $OUT/gpu-report.md (or out/gpu-report.md), with the logs beside it.
#
# Usage:
#   scripts/gpu-check.sh            run the check (GPU machine)
#   scripts/gpu-check.sh --bundle   on the build machine: build release binaries with cuda,nccl and
#                                   copy them, stripped, with the val photos into .gpu-bundle/ (~25 MB,
#                                   git-ignored) to carry to the GPU machine
#   NSBG_GPU_CHECK_ALLOW_CPU=1      dry run without a GPU (same steps on the CPU, tiny sizes): checks the
#                                   script itself; the report then says it measured nothing on a GPU.
#
# Bundle: the lent GPU machines of this workplace (see the device tool's README) have no network and no
# Rust toolchain, and their system PyTorch is not necessarily the 2.13 that tch 0.26 is built against.
# The bundle runs against the machine's own PyTorch libraries (LD_LIBRARY_PATH to its torch/lib); the
# script checks that version first and reports a mismatch instead of crashing in the dynamic loader.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
t_start=$SECONDS
bundle="$root/.gpu-bundle"
features="cuda,nccl"

if [ "${1:-}" = "--bundle" ]; then
  # shellcheck disable=SC1091
  source "${NSBG_CACHE:-$HOME/.cache/nsbg}/env.sh" || exit 1
  export NSBG_SHARED=${NSBG_SHARED:-$(cd "$root/../shared" 2>/dev/null && pwd)}
  target=${CARGO_TARGET_DIR:-$root/target}
  cargo build --release -p nsbg-host --features "$features" || exit 1
  mapfile -t tests < <(cargo test --release -p nsbg-host --features "$features" --test gpu --bin nsbg-host --no-run \
      --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] in (["test"], ["bin"]) and m["profile"]["test"]:
        print(m["executable"])')
  rm -rf "$bundle" && mkdir -p "$bundle/data/photos"
  strip -o "$bundle/nsbg-host" "$target/release/nsbg-host"
  for t in "${tests[@]}"; do strip -o "$bundle/test-$(basename "$t" | sed 's/-[0-9a-f]*$//')" "$t"; done
  cp -r "$NSBG_SHARED/data/photos/val" "$bundle/data/photos/train"
  cp -r "$NSBG_SHARED/data/photos/val" "$bundle/data/photos/val"
  python3 -c 'import torch; print(torch.__version__.split("+")[0])' > "$bundle/torch-version"
  du -sh "$bundle"; ls -la "$bundle"
  echo "carry .gpu-bundle to the GPU machine and run scripts/gpu-check.sh there"
  exit 0
fi

out_dir=${OUT:-$root/out}
mkdir -p "$out_dir"
report="$out_dir/gpu-report.md"
log="$out_dir/gpu-check.log"
: > "$log"
allow_cpu=${NSBG_GPU_CHECK_ALLOW_CPU:-0}
status=0
note() { echo "$*" | tee -a "$log"; }
md() { echo "$*" >> "$report"; }
{
  echo "# nsbg GPU check"
  echo
  echo "Date: $(date -u +%FT%TZ); host: $(uname -n); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
} > "$report"
elapsed() { echo $((SECONDS - t_start)); }

# ---- 1. binaries ----
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -x "$bundle/nsbg-host" ]; then
  mode=bundle
  bin="$bundle/nsbg-host"
  torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
  have=$(python3 -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || echo none)
  want=$(cat "$bundle/torch-version")
  md "Build: prebuilt bundle (features $features, libtorch $want), run against this machine's PyTorch $have ($torch_dir)."
  if [ "$have" != "$want" ]; then
    md ""
    md "**Not run: libtorch mismatch.** The bundle's tch 0.26 needs libtorch $want; this machine has $have."
    md "Install PyTorch $want (scripts/setup.sh, needs network) or build here with cargo against $have"
    md "(LIBTORCH_BYPASS_VERSION_CHECK=1 with a tch release matching it)."
    note "libtorch mismatch: bundle needs $want, machine has $have"
    status=2
  fi
  nv="$torch_dir/../nvidia"
  export LD_LIBRARY_PATH="$torch_dir/lib:$nv/cu13/lib:$nv/nccl/lib:$nv/cudnn/lib:${LD_LIBRARY_PATH:-}"
  data="$bundle/data/photos/train"
  test_bins=("$bundle"/test-*)
elif command -v cargo >/dev/null; then
  mode=cargo
  if [ "${NSBG_SKIP_SETUP:-0}" != 1 ]; then scripts/setup.sh >> "$log" 2>&1 || note "setup.sh failed (continuing with what is there)"; fi
  # shellcheck disable=SC1091
  source "${NSBG_CACHE:-$HOME/.cache/nsbg}/env.sh"
  target=${CARGO_TARGET_DIR:-$root/target}
  note "building release nsbg-host --features $features"
  if ! timeout 420 cargo build --release -p nsbg-host --features "$features" >> "$log" 2>&1; then
    md "**Build failed** (see gpu-check.log)."; status=1
  fi
  bin="$target/release/nsbg-host"
  shared=${NSBG_SHARED:-$(cd "$root/../shared" 2>/dev/null && pwd)}
  data="$shared/data/photos/train"
  test_bins=()
  md "Build: cargo, release, features $features ($(elapsed) s incl. set-up)."
else
  md "**Not run:** no cargo and no .gpu-bundle (make one with scripts/gpu-check.sh --bundle on the build machine)."
  exit 1
fi
# NCCL ships as libnccl.so.2 in the PyTorch wheel; cudarc opens libnccl.so: give it that name.
for d in $(echo "${LD_LIBRARY_PATH:-}" | tr ':' ' ') "$(dirname "$(ldd "$bin" 2>/dev/null | awk '/libnccl/ {print $3}')" 2>/dev/null)"; do
  if [ -f "$d/libnccl.so.2" ]; then ln -sf "$d/libnccl.so.2" "$tmp/libnccl.so"; break; fi
done
export LD_LIBRARY_PATH="$tmp:${LD_LIBRARY_PATH:-}"

# ---- 2. CUDA really loaded ----
md ""; md "## Devices"; md ""
nvidia-smi -L >> "$log" 2>&1 && md '```' && nvidia-smi -L >> "$report" 2>&1 && md '```'
info=$("$bin" torch-info 2>&1)
echo "$info" >> "$log"
md '```'; md "$info"; md '```'
device=cuda
if ! grep -q "^CUDA available" <<< "$info"; then
  if [ "$allow_cpu" = 1 ]; then
    md "**No CUDA device: dry run on the CPU (NSBG_GPU_CHECK_ALLOW_CPU=1); nothing below is a GPU measurement.**"
    device=cpu
  else
    md "**FAIL: libtorch sees no CUDA device** (driver missing, or libtorch_cuda not loaded: the --as-needed trap)."
    exit 1
  fi
fi
ngpu=$(grep -o 'CUDA available, [0-9]*' <<< "$info" | grep -o '[0-9]*$' || echo 0)
[ -n "$ngpu" ] || ngpu=0

# ---- 3. GPU-gated tests ----
md ""; md "## GPU-gated tests"; md ""
if [ "$status" -eq 0 ]; then
  if [ "$mode" = cargo ]; then
    timeout 240 cargo test --release -p nsbg-host --features "$features" --test gpu -- --nocapture >> "$log" 2>&1
    r1=$?
    timeout 120 cargo test --release -p nsbg-host --features "$features" --bin nsbg-host -- gpu:: >> "$log" 2>&1
    r2=$?
  else
    r1=0; r2=0
    for t in "${test_bins[@]}"; do
      case "$t" in
        */test-nsbg_host) timeout 120 "$t" gpu:: >> "$log" 2>&1 || r2=$? ;;
        *) NSBG_SHARED="$bundle" NSBG_HOST_BIN="$bin" timeout 240 "$t" --nocapture >> "$log" 2>&1 || r1=$? ;;
      esac
    done
  fi
  md "- integration tests (tests/gpu.rs: CUDA training f32/bf16/f16, 2-GPU run if present, device data path): exit $r1"
  md "- unit tests gpu:: (tensor-op DWT/tiling vs nsbg-core incl. CUDA, driver queries): exit $r2"
  [ "$r1" -eq 0 ] && [ "$r2" -eq 0 ] || status=1
  grep -E "^test |skipped" "$log" | sed 's/^/    /' >> "$report"
fi

# ---- 4./5. short training runs ----
train() { # name cmd args...
  local name=$1; shift
  local dir="$tmp/run-$name"
  local t0=$SECONDS
  if timeout 150 "$bin" "$@" --out "$dir" --data "$data" --no-val --device "$device" --sample-every 100000 \
      --checkpoint-every 100000 --log-every 10 >> "$log" 2>&1; then
    python3 - "$dir/summary.json" "$name" $((SECONDS - t0)) >> "$report" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
f = lambda v, fmt: "n/a" if v is None else fmt.format(v)
print(f"| {sys.argv[2]} | {s['step']} | {s['effective_batch']} | {s['precision']} | {f(s['images_per_s'], '{:.0f}')} | "
      f"{f(s.get('peak_gpu_mem_used_mib'), '{:.0f}')} | {f(s.get('gpu_power_w'), '{:.0f}')} | {s['session_seconds']:.1f} ({sys.argv[3]}) |")
EOF
  else
    md "| $name | FAILED (see gpu-check.log) | | | | | | |"; status=1
  fi
}
if [ "$status" -ne 2 ]; then
  md ""; md "## Short training runs ($device)"; md ""
  md "images/s over the whole run (first steps include cuDNN autotuning); memory: device memory in use at the log steps (whole GPU, MiB); power: NVML at the end."
  md ""
  md "| run | steps | eff. batch | precision | images/s | peak mem MiB | power W | seconds (wall incl. start) |"
  md "|---|---|---|---|---|---|---|---|"
  if [ "$device" = cuda ]; then steps=200; budget=0.5; dbatch=32; pbatch=16; else steps=3; budget=0.2; dbatch=2; pbatch=2; fi
  for p in f32 bf16; do
    train "nsbg-l1-small-$p" train-decoder --preset small --level 1 --batch $dbatch --steps $steps --time-budget $budget --precision $p
    train "pixel-l1-small-$p" train-pixel --preset small --level 1 --batch $pbatch --steps $steps --time-budget $budget --precision $p
  done
  if "$bin" train-sampler --help >/dev/null 2>&1; then
    dir="$tmp/run-sampler"
    if timeout 150 "$bin" train-sampler --out "$dir" --data "$data" --device "$device" --steps 50 >> "$log" 2>&1; then
      md "| sampler | see gpu-check.log | | | | | | |"
    else
      md "| sampler | FAILED or flags differ (see gpu-check.log) | | | | | | |"
    fi
  else
    md "| sampler | not in this build (no train-sampler) | | | | | | |"
  fi
  if [ "${ngpu:-0}" -ge 2 ]; then
    train "nsbg-l1-gpus$ngpu" train-decoder --preset small --level 1 --batch $dbatch --steps $steps --time-budget $budget --gpus "$ngpu"
  else
    md "| --gpus N | not run: $ngpu GPU(s) | | | | | | |"
  fi

  # ---- 6. DWT benchmark ----
  md ""; md "## bench-dwt --device $device"; md ""
  if [ "$device" = cuda ]; then sizes=1024,4096; bb=256; rep=7; else sizes=256; bb=8; rep=2; fi
  md '```'
  timeout 120 "$bin" bench-dwt --sizes $sizes --levels 3 --repeat $rep --memcpy-mib 64 --device "$device" \
      --batch $bb --json "$out_dir/bench-dwt.json" >> "$report" 2>> "$log" || { md "bench failed"; status=1; }
  md '```'
fi
md ""
md "Total time: $(elapsed) s; status $status (0 = all passed)."
echo "report: $report ($(elapsed) s)"
exit $status
