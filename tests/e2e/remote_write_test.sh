#!/usr/bin/env bash
# The remote-write exporter against a real Prometheus (Debian's, with its
# remote-write receiver): metrics the OpenTelemetry JS SDK sends to
# tributaryd are queried back from Prometheus with the right names, labels
# and values; a sample Prometheus refuses as out of order (400) is dropped and
# counted, and delivery goes on. Then the same into VictoriaMetrics (Debian's),
# a second, independent receiver.
#
# Needs the npm packages of tests/e2e/js on NODE_PATH (tools/test.sh).
set -euo pipefail
source tests/e2e/lib.sh
JS=tests/e2e/js
W="$TEST_TMPDIR"

require_node_peers
command -v victoria-metrics > /dev/null \
  || fail "victoria-metrics is not installed (tools/setup.sh installs it)"

mkdir -p "$W/p"
echo 'global: { scrape_interval: 1s }' > "$W/p/prometheus.yml"
start_prometheus "$W/p" --web.enable-remote-write-receiver
PROM="http://127.0.0.1:$PROM_PORT"

# start_writing_to DIR URL: a collector in DIR remote-writing to URL.
start_writing_to() {
  mkdir -p "$1"
  cat > "$1/config.yaml" <<YAML
exporters:
  prometheus_remote_write:
    url: "$2"
    retry: { initial_interval: 100ms, max_interval: 1s }
    batch: { max_records: 1000, max_delay: 200ms }
YAML
  start_tributaryd "$1" --config=config.yaml
}
start_writing_to "$W/c" "$PROM/api/v1/write"

query() { prom_query "$PROM" "$1"; }
await() { prom_await "$PROM" "$1" "$2"; }

timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected.json" || fail "SDK export"
await 'temperature_celsius{job="js-e2e"}' 21.5
await 'request_duration_seconds_count{job="js-e2e"}' 1
await 'count(request_duration_seconds_bucket{job="js-e2e",le="+Inf"})' 1
[ -n "$(query 'orders_total{job="js-e2e"}')" ] || fail "orders_total missing"
[ -n "$(query 'queue_depth{job="js-e2e"}')" ] || fail "queue_depth missing"

# A sample older than the series' last one makes Prometheus refuse the whole
# request (400, out of order / out of bounds). Sent in one request with a
# newer sample of the same series: the exporter splits the request, drops the
# stale sample with Prometheus' reason and stores the newer one.
now_ms=$(($(date +%s%N) / 1000000))
timeout 30 node "$JS/otlp_send.js" proto "$GRPC" rw-e2e level 1 "$now_ms" || fail "send 1"
await 'level{job="rw-e2e"}' 1
timeout 30 node "$JS/otlp_send.js" proto "$GRPC" rw-e2e level \
    2 "$((now_ms - 600000))" 3 "$((now_ms + 1000))" || fail "send 2 and 3"
await 'level{job="rw-e2e"}' 3
dropped_metric() {
  curl -sf "http://$HTTP/metrics" | grep "^tributary_exporter_records_dropped_total{exporter=\"prometheus_remote_write\",reason=\"$1\"}" \
      | awk '{print $2}'
}
# await_dropped REASON N: the exporter counts its drops once the request is
# done, a moment after Prometheus has what it took.
await_dropped() {
  for _ in $(seq 1 300); do
    [ "$(dropped_metric "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  fail "dropped{reason=$1} = '$(dropped_metric "$1")', want $2"
}
await_dropped rejected 1
grep -q 'out of' <<<"$(curl -sf "http://$HTTP/health/ready")" \
    || grep -q 'out of' "$W/c/stderr" || fail "Prometheus' reason not reported"
# Alone, a stale sample is refused whole: dropped, counted, and delivery goes on.
timeout 30 node "$JS/otlp_send.js" proto "$GRPC" rw-e2e level 4 "$((now_ms - 600000))" || fail "send 4"
await_dropped permanent 1
timeout 30 node "$JS/otlp_send.js" proto "$GRPC" rw-e2e level 5 "$((now_ms + 2000))" || fail "send 5"
await 'level{job="rw-e2e"}' 5

stop_tributaryd

# VictoriaMetrics: the newest samples are queryable at once with
# -search.latencyOffset=0s once /internal/force_flush has run.
VM=$(free_port)
victoria-metrics -httpListenAddr=127.0.0.1:$VM -storageDataPath="$W/vm" -retentionPeriod=1d \
    -search.latencyOffset=0s -search.disableCache > "$W/vm.log" 2>&1 &
VMPID=$!
track "$VMPID"
for _ in $(seq 1 400); do
  curl -sf "http://127.0.0.1:$VM/health" > /dev/null 2>&1 && break
  kill -0 "$VMPID" 2>/dev/null || fail "victoria-metrics exited: $(tail -5 "$W/vm.log")"
  sleep 0.05
done
start_writing_to "$W/v" "http://127.0.0.1:$VM/api/v1/write"
timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected-vm.json" || fail "SDK export"
for query_want in 'temperature_celsius{job="js-e2e"}=21.5' 'orders_total{job="js-e2e",region="eu"}=3' \
                  'request_duration_seconds_count{job="js-e2e"}=1' \
                  'request_duration_seconds_bucket{job="js-e2e",le="+Inf"}=1'; do
  q=${query_want%=*}
  want=${query_want##*=}
  got=""
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$VM/internal/force_flush" > /dev/null || true
    got=$(prom_query "http://127.0.0.1:$VM" "$q")
    [ "$got" = "$want" ] && break
    sleep 0.1
  done
  [ "$got" = "$want" ] || fail "VictoriaMetrics: $q = '$got', want $want"
done
stop_tributaryd
echo PASS
