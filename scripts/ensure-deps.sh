#!/usr/bin/env bash
# Installs what a fresh machine lacks to build couponchain: libclang (the RocksDB bindings
# are generated at build time), then makes sure the cached static RocksDB exists.
# Prints the environment for cargo on stdout (use with eval); progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

have_libclang() {
  ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' ||
    ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}

if ! have_libclang || ! command -v clang >/dev/null 2>&1; then
  echo "ensure-deps: installing clang and libclang-dev" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-dev >&2
fi

"$here/rocksdb-lib.sh"
