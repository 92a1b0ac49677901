#!/usr/bin/env bash
# The test command: every unit, property, integration and end-to-end test in the workspace.
# Works on a fresh machine (installs libclang and builds the cached static RocksDB once).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/ensure-deps.sh)"
exec cargo test --workspace "$@"
