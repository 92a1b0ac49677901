#!/usr/bin/env bash
# Starts a local couponchain network: by default 4 validators and 1 full replica on
# 127.0.0.1, with deterministic keys, a generated genesis and the demo issuer, site and
# holder of `couponchain dev`. Prints each node's RPC URL and the demo key files; logs go
# to <dir>/<node>/node.log. Ctrl-C stops every node cleanly. Run it again and the network
# resumes from its state; --clean starts a new chain.
#
#   scripts/localnet.sh [--validators N] [--replicas M] [--clean] [--dir DIR]
#                       [--rpc-port P] [--p2p-port P] [--no-build]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VALIDATORS=4
REPLICAS=1
CLEAN=0
BUILD=1
DIR="$REPO/localnet-data"
RPC_PORT=8545
P2P_PORT=26656

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --validators) VALIDATORS="$2"; shift 2 ;;
    --replicas) REPLICAS="$2"; shift 2 ;;
    --clean) CLEAN=1; shift ;;
    --dir) DIR="$2"; shift 2 ;;
    --rpc-port) RPC_PORT="$2"; shift 2 ;;
    --p2p-port) P2P_PORT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "localnet: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

BIN="$REPO/target/release/couponchain"
if [ "$BUILD" = 1 ]; then
  echo "localnet: building (release) ..." >&2
  eval "$("$REPO/scripts/ensure-deps.sh")"
  (cd "$REPO" && cargo build --release --locked -q -p couponchain-node --bin couponchain)
fi
[ -x "$BIN" ] || { echo "localnet: $BIN missing; run without --no-build" >&2; exit 1; }

if [ "$CLEAN" = 1 ]; then
  rm -rf "$DIR"
fi
mkdir -p "$DIR"

mapfile -t NODES < <("$BIN" localnet init --dir "$DIR" --validators "$VALIDATORS" \
  --replicas "$REPLICAS" --rpc-port "$RPC_PORT" --p2p-port "$P2P_PORT")

PIDS=()
stop() {
  trap - INT TERM
  echo >&2
  echo "localnet: stopping ${#PIDS[@]} nodes ..." >&2
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "localnet: stopped; state kept in $DIR (run again to resume, --clean to start over)" >&2
  exit 0
}
trap stop INT TERM

for line in "${NODES[@]}"; do
  read -r name url config <<<"$line"
  "$BIN" run --config "$config" >"$(dirname "$config")/node.log" 2>&1 &
  PIDS+=("$!")
done

# Wait (bounded) until every node announces its RPC.
deadline=$((SECONDS + 60))
for line in "${NODES[@]}"; do
  read -r name url config <<<"$line"
  log="$(dirname "$config")/node.log"
  until grep -q "couponchain: RPC listening on" "$log" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "localnet: $name did not start within 60 s; see $log" >&2
      tail -5 "$log" >&2 || true
      stop
    fi
    sleep 0.2
  done
done

echo "couponchain localnet: ${VALIDATORS} validators, ${REPLICAS} replicas, chain couponchain-localnet"
for line in "${NODES[@]}"; do
  read -r name url config <<<"$line"
  printf '  %-12s %s   (log %s)\n' "$name" "$url" "$(dirname "$config")/node.log"
done
echo "demo keys (the same as 'couponchain dev'):"
for role in admin issuer site holder; do
  printf '  %-7s %s  %s\n' "$role" "$("$BIN" keys show "$DIR/keys/$role.key" 2>/dev/null)" "$DIR/keys/$role.key"
done
echo "Ctrl-C stops all nodes."

# Run until interrupted, or until a node exits on its own.
while :; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      read -r name _ config <<<"${NODES[$i]}"
      echo "localnet: $name exited; see $(dirname "$config")/node.log" >&2
      unset 'PIDS[i]'
    fi
  done
  [ ${#PIDS[@]} -gt 0 ] || exit 1
  sleep 1
done
