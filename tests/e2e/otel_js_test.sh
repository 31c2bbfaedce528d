#!/usr/bin/env bash
# The real OpenTelemetry JS SDK exports logs, spans and metrics over OTLP/gRPC
# to the real tributaryd; the collector must hold exactly those items with
# their ids and parent links. Then grpc-reflection-js lists and describes
# every service and calls two of them by reflection alone.
#
# Needs the npm packages of tests/e2e/js on NODE_PATH (tools/test.sh installs
# them and passes NODE_PATH).
set -euo pipefail
D=collector/tributaryd
CLI=tools/cli/tributary
JS=tests/e2e/js
W="$TEST_TMPDIR"

fail() { echo "FAIL: $*" >&2; exit 1; }
[ -n "${NODE_PATH:-}" ] && [ -d "$NODE_PATH/@opentelemetry/sdk-logs" ] \
  || fail "NODE_PATH must point at the node_modules of tests/e2e/js (run tools/test.sh)"
command -v node > /dev/null || fail "node is not installed (tools/setup.sh installs it)"

mkdir -p "$W/c"
(cd "$W/c" && exec "$OLDPWD/$D" --grpc_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 \
    2> "$W/c/stderr") &
PID=$!
trap 'kill -KILL $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  grep -q 'msg=listening' "$W/c/stderr" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || fail "tributaryd exited: $(cat "$W/c/stderr")"
  sleep 0.05
done
GRPC=$(sed -n 's/.*msg=listening grpc=\([^ ]*\).*/\1/p' "$W/c/stderr")
[ -n "$GRPC" ] || fail "no listening line"

timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected.json" || fail "SDK export"
timeout 60 node "$JS/reflection.js" "$GRPC" || fail "reflection"

kill -TERM "$PID"
for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
set +e; wait "$PID"; rc=$?; set -e
[ "$rc" = 0 ] || fail "tributaryd exited $rc after SIGTERM"

"$CLI" wal dump "$W/c/tributary-data" > "$W/dump.jsonl" || fail "wal dump"
node "$JS/otel_sdk.js" check "$W/expected.json" "$W/dump.jsonl" || fail "check: $(head -c 4000 "$W/dump.jsonl")"
echo PASS
