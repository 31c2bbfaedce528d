#!/usr/bin/env bash
# The real OpenTelemetry JS SDK exports logs, spans and metrics over OTLP/gRPC
# to the real tributaryd; the collector must hold exactly those items with
# their ids and parent links. Then grpc-reflection-js lists and describes
# every service and calls two of them by reflection alone.
#
# Needs the npm packages of tests/e2e/js on NODE_PATH (tools/test.sh installs
# them and passes NODE_PATH).
set -euo pipefail
source tests/e2e/lib.sh
CLI=tools/cli/tributary
JS=tests/e2e/js
W="$TEST_TMPDIR"

require_node_peers
start_tributaryd "$W/c"

timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected.json" || fail "SDK export"
timeout 60 node "$JS/reflection.js" "$GRPC" || fail "reflection"

stop_tributaryd

"$CLI" wal dump "$W/c/tributary-data" > "$W/dump.jsonl" || fail "wal dump"
node "$JS/otel_sdk.js" check "$W/expected.json" "$W/dump.jsonl" || fail "check: $(head -c 4000 "$W/dump.jsonl")"
echo PASS
