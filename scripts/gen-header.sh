#!/usr/bin/env bash
# Regenerates include/nsbg.h from ffi/src with the pinned cbindgen (scripts/setup.sh installs it).
# `scripts/gen-header.sh --check` writes to a temp file and fails if the checked-in header is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
out=include/nsbg.h
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
  cbindgen --quiet --config ffi/cbindgen.toml --crate nsbg-ffi --output "$tmp" ffi
  if ! diff -u include/nsbg.h "$tmp"; then
    echo "include/nsbg.h is stale: run scripts/gen-header.sh and commit it" >&2
    exit 1
  fi
  echo "include/nsbg.h is up to date"
else
  cbindgen --quiet --config ffi/cbindgen.toml --crate nsbg-ffi --output "$out" ffi
  echo "wrote $out"
fi
