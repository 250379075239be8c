#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) and prints executions and crashes per
# target. scripts/test.sh runs it with a few seconds as a smoke test. Needs the nightly toolchain and
# cargo-fuzz (scripts/setup.sh installs both). Corpora live in fuzz/corpus/<target> (git-ignored,
# except the checked-in seeds), crashes in fuzz/artifacts/<target>.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O >/dev/null 2>&1 || { cargo +nightly fuzz build -O; exit 1; }
status=0
printf '%-20s %12s %8s %8s\n' target executions exec/s crashes
for t in "${targets[@]}"; do
  log=$(mktemp)
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  crashes=0
  if [ $rc -ne 0 ]; then
    crashes=1; status=1
    echo "--- $t failed (exit $rc); last lines:" >&2
    tail -30 "$log" >&2
  fi
  printf '%-20s %12s %8s %8s\n' "$t" "${runs:-?}" "${rate:-?}" "$crashes"
  rm -f "$log"
done
exit $status
