#!/usr/bin/env bash
# Idempotent set-up for a fresh machine that has only Rust and Python.
#
# Installs what nsbg's builds and tests need and caches everything outside the repository:
#   * Rust: the thumbv7em-none-eabihf target (no_std check), a nightly toolchain for cargo-fuzz,
#     rustfmt/clippy, cbindgen (pinned: the checked-in header must match it byte for byte), cargo-fuzz;
#   * a C/C++ compiler (Debian's gcc/g++) for the C ABI tests;
#   * a cached Python virtualenv with the PyTorch wheel that the host's `tch` version builds against,
#     plus numpy and PyWavelets (the reference the benchmarks compare with) and Pillow (fixture scripts).
#
# Every step checks first and does nothing when its result is already there, so running it twice is cheap.
# Environment knobs: NSBG_CACHE (default ~/.cache/nsbg), NSBG_SKIP_TORCH=1 (skip the 4.7 GB wheel).
set -euo pipefail

CBINDGEN_VERSION=0.29.4
CARGO_FUZZ_VERSION=0.13.2
# tch 0.26 links against exactly this libtorch version (checked by torch-sys' build script).
TORCH_VERSION=2.13.0
PYWT_VERSION=1.8.0   # the version the spec was verified against; 1.10 needs Python >= 3.12


NSBG_CACHE=${NSBG_CACHE:-$HOME/.cache/nsbg}
VENV="$NSBG_CACHE/venv-torch-$TORCH_VERSION"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[setup] %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- system packages --------------------------------------------------------------------------
need_apt=()
have cc || need_apt+=(gcc)
have c++ || need_apt+=(g++)
have make || need_apt+=(make)
have pkg-config || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing system packages: ${need_apt[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# --- Rust toolchains, targets, tools ------------------------------------------------------------
if ! have cargo; then
  log "cargo not found: install Rust (rustup) first"; exit 1
fi
if have rustup; then
  installed_targets=$(rustup target list --installed)
  grep -qx thumbv7em-none-eabihf <<<"$installed_targets" || { log "adding target thumbv7em-none-eabihf"; rustup target add thumbv7em-none-eabihf; }
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  if ! rustup toolchain list | grep -q '^nightly'; then
    log "installing the nightly toolchain (cargo-fuzz needs it)"
    rustup toolchain install nightly --profile minimal || log "nightly unavailable: fuzzing will be skipped"
  fi
fi

if ! have cbindgen || [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
  log "installing cbindgen $CBINDGEN_VERSION"
  cargo install --quiet --locked cbindgen --version "$CBINDGEN_VERSION"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# --- Python virtualenv with PyTorch (for tch) and PyWavelets (reference) --------------------------
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  mkdir -p "$NSBG_CACHE"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
if ! "$VENV/bin/python" -c "import numpy, pywt, PIL" >/dev/null 2>&1; then
  log "installing numpy, PyWavelets and Pillow into $VENV"
  "$VENV/bin/python" -m pip install --quiet numpy "PyWavelets==$PYWT_VERSION" pillow
fi
if [ "${NSBG_SKIP_TORCH:-0}" != 1 ]; then
  if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" >/dev/null 2>&1; then
    log "installing torch==$TORCH_VERSION into $VENV (about 4.7 GB, cached for later runs)"
    "$VENV/bin/python" -m pip install --quiet "torch==$TORCH_VERSION"
  fi
fi

# Scripts source this file's output to find the tools.
mkdir -p "$NSBG_CACHE"
cat > "$NSBG_CACHE/env.sh" <<EOF
export NSBG_VENV="$VENV"
export PATH="$VENV/bin:\$HOME/.cargo/bin:\$PATH"
export LIBTORCH_USE_PYTORCH=1
EOF
log "ready (env: $NSBG_CACHE/env.sh)"
