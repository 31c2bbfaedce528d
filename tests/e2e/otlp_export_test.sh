#!/usr/bin/env bash
# The OTLP exporter end to end: the real OpenTelemetry JS SDK sends logs,
# spans and metrics to the real tributaryd, whose OTLP exporter forwards them
# to a grpc-js OTLP receiver that refuses its first calls with UNAVAILABLE.
# Everything must arrive exactly as the SDK sent it (each item once, ids,
# parent links, resources, kinds), and the exporter's counters must say so.
#
# Needs the npm packages of tests/e2e/js on NODE_PATH (tools/test.sh).
set -euo pipefail
source tests/e2e/lib.sh
JS=tests/e2e/js
W="$TEST_TMPDIR"

require_node_peers

# The backend.
: > "$W/received.jsonl"
node "$JS/otlp_receiver.js" proto "$W/received.jsonl" 3 > "$W/receiver.out" 2>&1 &
RPID=$!
track "$RPID"
for _ in $(seq 1 200); do
  grep -q '^listening' "$W/receiver.out" 2>/dev/null && break
  kill -0 "$RPID" 2>/dev/null || fail "receiver exited: $(cat "$W/receiver.out")"
  sleep 0.05
done
BACKEND=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$W/receiver.out")
[ -n "$BACKEND" ] || fail "receiver did not start: $(cat "$W/receiver.out")"

# The collector, exporting to it.
mkdir -p "$W/c"
cat > "$W/c/config.yaml" <<YAML
exporters:
  otlp:
    endpoint: "127.0.0.1:$BACKEND"
    compression: gzip
    retry: { initial_interval: 100ms, max_interval: 1s }
    batch: { max_records: 1000, max_delay: 200ms }
YAML
start_tributaryd "$W/c" --config=config.yaml
grep -q 'msg="exporter started" consumer=exporter/otlp' "$W/c/stderr" || fail "exporter not started"

timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected.json" || fail "SDK export"

# Wait until the backend holds everything (the first calls were refused).
ok=""
for _ in $(seq 1 300); do
  if node "$JS/otel_sdk.js" check "$W/expected.json" "$W/received.jsonl" > "$W/check.out" 2>&1; then
    ok=1
    break
  fi
  sleep 0.1
done
[ -n "$ok" ] || fail "the backend did not get everything: $(cat "$W/check.out")"
cat "$W/check.out"

metrics=$(curl -sf "http://$HTTP/metrics")
grep -q '^tributary_exporter_retries_total{exporter="otlp"} [1-9]' <<<"$metrics" \
  || fail "no retries counted: $(grep tributary_exporter <<<"$metrics")"
grep -q '^tributary_exporter_records_dropped_total' <<<"$metrics" \
  && fail "records dropped: $(grep dropped <<<"$metrics")"
# The exporter's lag is refreshed every 50 ms or so: poll for it.
for _ in $(seq 1 100); do
  ready=$(curl -sf "http://$HTTP/health/ready")
  grep -q '"exporters":{"otlp":{"status":"ok","circuit":"closed","lag_entries":0' <<<"$ready" && break
  sleep 0.05
done
grep -q '"exporters":{"otlp":{"status":"ok","circuit":"closed","lag_entries":0' <<<"$ready" \
  || fail "readiness: $ready"

stop_tributaryd
echo PASS
