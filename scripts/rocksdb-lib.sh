#!/usr/bin/env bash
# Ensures a static librocksdb.a built from the librocksdb-sys crate's own bundled
# sources (same version and build flags the crate would use) exists in a machine-wide
# cache, then prints the environment that makes cargo link it instead of compiling
# RocksDB's C++ again in every clean target directory. See docs/adr/001-rocksdb-build.md.
#
#   eval "$(scripts/rocksdb-lib.sh)"     # first run on a fresh machine: ~12-14 min
#
# Progress goes to stderr; only `export` lines go to stdout.
set -euo pipefail

LIBROCKSDB_SYS_VERSION="0.19.0+11.8.1"   # must match Cargo.lock (checked below)
CACHE_ROOT="${COUPONCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/couponchain}"
LIB_DIR="$CACHE_ROOT/rocksdb-$LIBROCKSDB_SYS_VERSION-nocompress-sse42"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ -f "$REPO_ROOT/Cargo.lock" ] && ! grep -A1 'name = "librocksdb-sys"' "$REPO_ROOT/Cargo.lock" | grep -q "\"$LIBROCKSDB_SYS_VERSION\""; then
  echo "rocksdb-lib.sh: Cargo.lock pins a different librocksdb-sys than $LIBROCKSDB_SYS_VERSION; update this script" >&2
  exit 1
fi

if [ ! -f "$LIB_DIR/librocksdb.a" ]; then
  echo "rocksdb-lib.sh: building static RocksDB ($LIBROCKSDB_SYS_VERSION) into $LIB_DIR (one time, ~12-14 min on 2 cores)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src"
  cat > "$work/Cargo.toml" <<TOML
[package]
name = "rocksdb-static-builder"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
librocksdb-sys = { version = "=$LIBROCKSDB_SYS_VERSION", default-features = false }

[profile.release]
opt-level = 2
TOML
  echo 'fn main() {}' > "$work/src/main.rs"
  # Unset any inherited ROCKSDB_* so the crate compiles its bundled C++. The crate passes
  # -msse4.2 -mpclmul to the C++ compiler only when these target features are on; without
  # them RocksDB computes every WAL record's and block's CRC32C in software (~2-3 % of a
  # node's CPU under load). Every x86-64 CPU since 2010 has both (ADR 001).
  flags=""
  if [ "$(uname -m)" = x86_64 ]; then flags="-C target-feature=+sse4.2,+pclmulqdq"; fi
  ( cd "$work" && env -u ROCKSDB_LIB_DIR -u ROCKSDB_STATIC RUSTFLAGS="$flags" cargo build --release --quiet >&2 )
  built="$(find "$work/target/release/build" -name librocksdb.a | head -n1)"
  if [ -z "$built" ]; then
    echo "rocksdb-lib.sh: librocksdb.a not found after the build" >&2
    exit 1
  fi
  mkdir -p "$LIB_DIR.tmp"
  cp "$built" "$LIB_DIR.tmp/librocksdb.a"
  rm -rf "$LIB_DIR" && mv "$LIB_DIR.tmp" "$LIB_DIR"
  echo "rocksdb-lib.sh: done" >&2
fi

echo "export ROCKSDB_LIB_DIR='$LIB_DIR'"
echo "export ROCKSDB_STATIC=1"
