#!/usr/bin/env bash
# The remote-write exporter against a real Prometheus (Debian's, with its
# remote-write receiver): metrics the OpenTelemetry JS SDK sends to
# tributaryd are queried back from Prometheus with the right names, labels
# and values; a sample Prometheus refuses as out of order (400) is dropped and
# counted, and delivery goes on.
#
# Needs the npm packages of tests/e2e/js on NODE_PATH (tools/test.sh).
set -euo pipefail
source tests/e2e/lib.sh
JS=tests/e2e/js
W="$TEST_TMPDIR"

require_node_peers
command -v prometheus > /dev/null || fail "prometheus is not installed (tools/setup.sh installs it)"

# A free loopback port for Prometheus (it cannot report a kernel-picked one).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/p"
echo 'global: { scrape_interval: 1s }' > "$W/p/prometheus.yml"
prometheus --config.file="$W/p/prometheus.yml" --storage.tsdb.path="$W/p/data" \
    --web.listen-address=127.0.0.1:$PORT --web.enable-remote-write-receiver \
    > "$W/p/log" 2>&1 &
PPID_=$!
track "$PPID_"
for _ in $(seq 1 400); do
  curl -sf "http://127.0.0.1:$PORT/-/ready" > /dev/null 2>&1 && break
  kill -0 "$PPID_" 2>/dev/null || fail "prometheus exited: $(tail -5 "$W/p/log")"
  sleep 0.05
done
curl -sf "http://127.0.0.1:$PORT/-/ready" > /dev/null || fail "prometheus not ready"

mkdir -p "$W/c"
cat > "$W/c/config.yaml" <<YAML
exporters:
  prometheus_remote_write:
    url: "http://127.0.0.1:$PORT/api/v1/write"
    retry: { initial_interval: 100ms, max_interval: 1s }
    batch: { max_records: 1000, max_delay: 200ms }
YAML
start_tributaryd "$W/c" --config=config.yaml

# query PROMQL: the first result's value, or empty.
query() {
  curl -sG "http://127.0.0.1:$PORT/api/v1/query" --data-urlencode "query=$1" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
# await PROMQL WANT: polls until the query returns WANT.
await() {
  local got=""
  for _ in $(seq 1 200); do
    got=$(query "$1")
    [ "$got" = "$2" ] && return 0
    sleep 0.1
  done
  fail "$1 = '${got}', want $2"
}

timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected.json" || fail "SDK export"
await 'temperature_celsius{job="js-e2e"}' 21.5
await 'request_duration_seconds_count{job="js-e2e"}' 1
await 'count(request_duration_seconds_bucket{job="js-e2e",le="+Inf"})' 1
[ -n "$(query 'orders_total{job="js-e2e"}')" ] || fail "orders_total missing"
[ -n "$(query 'queue_depth{job="js-e2e"}')" ] || fail "queue_depth missing"

# A sample older than the series' last one: Prometheus answers 400 (out of
# order); the exporter drops it with the reason and goes on.
now_ms=$(($(date +%s%N) / 1000000))
timeout 30 node "$JS/otlp_send.js" proto "$GRPC" rw-e2e level 1 "$now_ms" || fail "send 1"
await 'level{job="rw-e2e"}' 1
timeout 30 node "$JS/otlp_send.js" proto "$GRPC" rw-e2e level 2 "$((now_ms - 600000))" || fail "send 2"
timeout 30 node "$JS/otlp_send.js" proto "$GRPC" rw-e2e level 3 "$((now_ms + 1000))" || fail "send 3"
await 'level{job="rw-e2e"}' 3
metrics=$(curl -sf "http://$HTTP/metrics")
grep -q '^tributary_exporter_records_dropped_total{exporter="prometheus_remote_write",reason="permanent"} [1-9]' \
    <<<"$metrics" || fail "the out-of-order sample was not counted: $(grep exporter <<<"$metrics")"
grep -q 'out of order' <<<"$(curl -sf "http://$HTTP/health/ready")" \
    || grep -q 'out of order' "$W/c/stderr" || fail "Prometheus' reason not reported"

stop_tributaryd
echo PASS
