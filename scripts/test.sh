#!/usr/bin/env bash
# Runs every test of nsbg after the idempotent set-up: formatting and lints, the Rust test suites,
# the no_std builds for a bare-metal target, header freshness, the C and C++ ABI programs (shared and
# static library), exported-symbol hygiene, and a short fuzz smoke. Exit status != 0 on any failure.
#   NSBG_FUZZ_SECONDS (default 3) seconds per fuzz target; NSBG_SKIP_SETUP=1 skips scripts/setup.sh.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
NSBG_CACHE=${NSBG_CACHE:-$HOME/.cache/nsbg}
if [ "${NSBG_SKIP_SETUP:-0}" != 1 ]; then
  scripts/setup.sh || { echo "set-up failed" >&2; exit 1; }
fi
# shellcheck disable=SC1091
source "$NSBG_CACHE/env.sh"
export NSBG_SHARED=${NSBG_SHARED:-$(cd "$root/../shared" 2>/dev/null && pwd)}

passed=0; failed=0; failed_steps=()
step() {
  local name=$1; shift
  printf '\n==> %s\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); printf '<== %s: ok (%ss)\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failed_steps+=("$name"); printf '<== %s: FAILED (%ss)\n' "$name" $((SECONDS - t0))
  fi
}

target_dir=${CARGO_TARGET_DIR:-$root/target}
build_dir="$target_dir/abi-tests"
c_tests() {
  cargo build --quiet --release -p nsbg-ffi || return 1
  mkdir -p "$build_dir"
  local lib="$target_dir/release" flags=(-Wall -Wextra -Werror -Wpedantic -Iinclude)
  cc -std=c11 "${flags[@]}" tests/c/test_abi.c -o "$build_dir/test_abi_shared" -L"$lib" -lnsbg -Wl,-rpath,"$lib" -lpthread -lm &&
  cc -std=c11 "${flags[@]}" tests/c/test_abi.c -o "$build_dir/test_abi_static" "$lib/libnsbg.a" -lpthread -ldl -lm &&
  "$build_dir/test_abi_shared" "$NSBG_SHARED/testdata/wavelet" tests/fixtures/decoder &&
  "$build_dir/test_abi_static" "$NSBG_SHARED/testdata/wavelet" tests/fixtures/decoder
}
cpp_tests() {
  local lib="$target_dir/release"
  c++ -std=c++17 -Wall -Wextra -Werror -Wpedantic -Iinclude tests/cpp/test_abi.cpp -o "$build_dir/test_cpp_shared" \
      -L"$lib" -lnsbg -Wl,-rpath,"$lib" -lpthread &&
  c++ -std=c++17 -Wall -Wextra -Werror -Wpedantic -Iinclude tests/cpp/test_abi.cpp -o "$build_dir/test_cpp_static" \
      "$lib/libnsbg.a" -lpthread -ldl -lm &&
  "$build_dir/test_cpp_shared" tests/fixtures/decoder && "$build_dir/test_cpp_static" tests/fixtures/decoder
}
exported_symbols() {
  local so="$target_dir/release/libnsbg.so" bad
  [ -f "$so" ] || { echo "missing $so"; return 1; }
  bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^nsbg_' || true)
  if [ -n "$bad" ]; then echo "symbols outside the nsbg_ prefix:"; echo "$bad"; return 1; fi
  echo "only nsbg_* symbols exported ($(nm -D --defined-only "$so" | grep -c ' nsbg_'))"
}
no_std() {
  cargo build --quiet -p nsbg-core --target thumbv7em-none-eabihf &&
  cargo build --quiet -p nsbg-core --features alloc --target thumbv7em-none-eabihf &&
  (cd tests/no-std && cargo build --quiet --release --target thumbv7em-none-eabihf)
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings" cargo clippy --quiet --workspace --all-targets --features nsbg-core/std -- -D warnings
# The GPU features (cudarc, loaded at run time) must build and lint on machines without CUDA.
step "cargo clippy nsbg-host --features cuda,nccl" cargo clippy --quiet -p nsbg-host --all-targets --features cuda,nccl -- -D warnings
step "cargo test (workspace)" cargo test --workspace --features nsbg-core/std
step "no_std build (thumbv7em-none-eabihf)" no_std
step "header is fresh (cbindgen)" scripts/gen-header.sh --check
step "C ABI program (shared + static)" c_tests
step "C++ wrapper program (shared + static)" cpp_tests
step "exported symbols" exported_symbols
if cargo +nightly fuzz --version >/dev/null 2>&1; then
  step "fuzz smoke" scripts/fuzz.sh "${NSBG_FUZZ_SECONDS:-3}"
else
  echo "fuzz smoke skipped: no nightly toolchain / cargo-fuzz"
fi

echo
if [ $failed -gt 0 ]; then printf 'failed steps: %s\n' "${failed_steps[*]}"; fi
echo "test.sh: $passed passed, $failed failed"
[ $failed -eq 0 ]
