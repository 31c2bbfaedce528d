#!/usr/bin/env bash
# kill -9 of the real collector under load: `tributary loadgen` streams from 4
# producers while the collector is killed at random moments (at least 10
# times) and restarted on the same port. Loadgen reconnects and resends what
# was not acked. At the end every batch that was ever acked is stored exactly
# once, and loadgen got every one of its batches acked.
set -euo pipefail
CLI=tools/cli/tributary
W="$TEST_TMPDIR"
KILLS=${KILLS:-12}
PRODUCERS=4
BATCHES=600   # per producer
source tests/e2e/lib.sh

PID=""
LOADGEN=""
cleanup() {
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
  [ -n "$LOADGEN" ] && kill -KILL "$LOADGEN" 2>/dev/null || true
}
trap cleanup EXIT

entries() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | sed -n 's/^tributary_buffer_entries \([0-9]*\)$/\1/p'
}

start_on_ports "$W"
"$CLI" loadgen --target=127.0.0.1:$GRPC_PORT --producers=$PRODUCERS --in_flight=8 --batch=100 \
    --batches=$BATCHES --rate=25000 --duration=300s --drain_timeout=60s \
    --producer_prefix=crash --acked_out="$W/acked" > "$W/loadgen.out" 2>&1 &
LOADGEN=$!

for k in $(seq 1 "$KILLS"); do
  # Let some batches land after each restart, so every kill hits live traffic.
  before=$(entries || echo 0)
  for _ in $(seq 1 200); do
    now=$(entries || echo 0)
    [ "${now:-0}" -gt "$((before + 5))" ] && break
    kill -0 "$LOADGEN" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$LOADGEN" 2>/dev/null || fail "loadgen finished after only $((k - 1)) kills; raise BATCHES"
  # The crash schedule: a random moment 0-400 ms later.
  sleep "0.$((RANDOM % 400 + 100))"
  kill -KILL "$PID"
  wait "$PID" 2>/dev/null || true
  start_on_ports "$W"
  grep -q 'msg="buffer opened"' "$W/stderr.$run" || fail "restart $k: no buffer opened line"
done

# Loadgen finishes once everything is acked (bounded by its own deadlines).
await_loadgen "$LOADGEN" "$W/loadgen.out"
LOADGEN=""
reconnects=$(sed -n 's/^reconnects \([0-9]*\);.*/\1/p' "$W/loadgen.out")
[ "${reconnects:-0}" -ge "$KILLS" ] || fail "only $reconnects reconnects for $KILLS kills"

kill -TERM "$PID"
for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
set +e; wait "$PID"; rc=$?; set -e
PID=""
[ "$rc" = 0 ] || fail "final SIGTERM exit $rc"

# Loadgen lost nothing (every seq of every producer acked), and the buffer
# holds each acked batch exactly once.
check_acked "$W/acked" "$W/tributary-data" crash "$PRODUCERS" "$BATCHES"
echo "PASS: $KILLS kills, $(wc -l < "$W/acked") batches acked, all stored exactly once"
