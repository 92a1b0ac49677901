#!/usr/bin/env bash
# Benchmarks a local network on this machine, load generator included (BENCHMARKS.md):
#  1. 4 validators + 1 replica (+ 1 replica kept stopped), fresh, in a temporary folder;
#  2. redemptions at full speed for DURATION s (default 300), sampling every 30 s the
#     transactions final (validator-0's metrics) and every node's resident memory;
#  3. redemptions at RATE tx/s (default: half of what step 2 sustained) for 60 s.
#     Steps 2 and 3 each start measuring once all five nodes report their storage settled
#     (no flush or compaction running or due) after the load generator's setup, which
#     issues the coupons far faster than a real network would;
#  4. the stopped replica starts from genesis and catches up; its speed is reported.
# Bounded: every step has a time limit; all nodes are stopped at the end.
#
#   scripts/bench-localnet.sh [--duration S] [--half-rate N] [--no-build]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION=300
HALF=0
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --half-rate) HALF="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "bench-localnet: unknown option $1" >&2; exit 2 ;;
  esac
done
BIN="$REPO/target/release/couponchain"
if [ "$BUILD" = 1 ]; then
  eval "$("$REPO/scripts/ensure-deps.sh")"
  (cd "$REPO" && cargo build --release --locked -q -p couponchain-node --bin couponchain)
fi
DIR="$(mktemp -d /tmp/couponchain-bench.XXXXXX)"
RPC=28545
P2P=38656
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

mapfile -t NODES < <("$BIN" localnet init --dir "$DIR" --validators 4 --replicas 2 \
  --rpc-port $RPC --p2p-port $P2P --log-level warn)
start() { # index
  read -r name url config <<<"${NODES[$1]}"
  "$BIN" run --config "$config" >"$(dirname "$config")/node.log" 2>&1 &
  PIDS+=("$!")
}
for i in 0 1 2 3 4; do start $i; done
sleep 3
height() { curl -s "$1/v1/status" | python3 -c 'import sys,json; print(json.load(sys.stdin)["head"]["height"])'; }
final_txs() { curl -s "$1/metrics" | awk '/^couponchain_block_txs_sum/ {printf "%d\n", $2}'; }
tree_cache() { curl -s "$1/metrics" | awk '/^couponchain_storage_tree_cache_(hits|misses)_total/ {printf "%d ", $2}'; }
rss_all() { for p in "${PIDS[@]}"; do ps -o rss= -p "$p" 2>/dev/null | awk '{printf "%d ", $1/1024}'; done; }

V0="http://127.0.0.1:$RPC"
SETTLE=()
for i in 0 1 2 3 4; do SETTLE+=(--settle-rpc "http://127.0.0.1:$((RPC + i))"); done
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== full speed, redemptions, ${DURATION} s (4 validators + 1 replica + loadgen on this machine)"
"$BIN" loadgen --rpc "$V0" --mode redeem --rate 0 --duration-s "$DURATION" \
  --max-txs $((DURATION * 9000)) --node-pid "${PIDS[0]}" "${SETTLE[@]}" >"$DIR/full.txt" 2>"$DIR/full.err" &
LG=$!
# Sample while the measured part runs (it starts after the unmeasured setup).
until grep -q "running for" "$DIR/full.err" 2>/dev/null; do
  kill -0 $LG 2>/dev/null || break
  sleep 1
done
prev=$(final_txs "$V0"); t=0
read -r hits0 misses0 <<<"$(tree_cache "$V0")"
echo "   window(s)  tx/s(final at validator-0)  RSS MiB per node (v0 v1 v2 v3 r0)"
while kill -0 $LG 2>/dev/null; do
  sleep 30; t=$((t + 30))
  now=$(final_txs "$V0")
  echo "   $((t - 30))-$t  $(( (now - prev) / 30 ))  $(rss_all)"
  prev=$now
done
wait $LG || true
read -r hits1 misses1 <<<"$(tree_cache "$V0")"
echo "   validator-0 state-tree chunk lookups: $((hits1 - hits0)) from its cache, $((misses1 - misses0)) from RocksDB"
grep "settled\|still busy" "$DIR/full.err" | sed 's/^/   /' || true
cat "$DIR/full.txt"
sustained=$(awk '/^throughput/ {print $2}' "$DIR/full.txt")
if [ "$HALF" = 0 ]; then HALF=$(( ${sustained%.*} / 2 )); fi
echo "== half rate: $HALF tx/s for 60 s"
"$BIN" loadgen --rpc "$V0" --mode redeem --rate "$HALF" --duration-s 60 "${SETTLE[@]}" 2>&1 | grep -v '^loadgen: \(setting\|issuing\|waiting\)'
echo "== catch-up: a new replica from genesis"
read -r _ R1 _ <<<"${NODES[5]}"
target=$(height "$V0")
txs=$(final_txs "$V0")
start 5
t0=$(date +%s.%N)
deadline=$((SECONDS + 1800))
until [ "$(height "$R1" 2>/dev/null || echo 0)" -ge "$target" ] 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || { echo "catch-up did not finish in 30 min"; break; }
  sleep 0.5
done
t1=$(date +%s.%N)
python3 - "$t0" "$t1" "$target" "$txs" <<'PY'
import sys
t0, t1, blocks, txs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = t1 - t0
print(f"   {blocks} blocks, {txs} transactions in {s:.1f} s: {blocks/s:.0f} blocks/s, {txs/s:.0f} tx/s")
PY
echo "== logs and data in $DIR"
