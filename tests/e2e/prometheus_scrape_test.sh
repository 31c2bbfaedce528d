#!/usr/bin/env bash
# The Prometheus exporter's scrape endpoint: metrics the OpenTelemetry JS SDK
# sends to tributaryd are served on exporters.prometheus.listen, pass
# `promtool check metrics`, are scraped by a real Prometheus (Debian's) and
# queried back with their values; a series that is not updated for
# metric_expiration disappears from the endpoint.
#
# Needs the npm packages of tests/e2e/js on NODE_PATH (tools/test.sh).
set -euo pipefail
source tests/e2e/lib.sh
JS=tests/e2e/js
W="$TEST_TMPDIR"

require_node_peers

mkdir -p "$W/c"
cat > "$W/c/config.yaml" <<YAML
exporters:
  prometheus:
    listen: "127.0.0.1:0"
    metric_expiration: 4s
    batch: { max_delay: 50ms }
YAML
start_tributaryd "$W/c" --config=config.yaml
SCRAPE=$(sed -n 's/.*msg="prometheus exporter listening" address=\([^ ]*\).*/\1/p' "$W/c/stderr")
[ -n "$SCRAPE" ] || fail "no prometheus exporter line: $(cat "$W/c/stderr")"

timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected.json" || fail "SDK export"
for _ in $(seq 1 200); do
  curl -sf "http://$SCRAPE/metrics" > "$W/scrape.txt" || true
  grep -q '^temperature_celsius{' "$W/scrape.txt" && break
  sleep 0.05
done
grep -q '^temperature_celsius{instance=".*",job="js-e2e"} 21.5$' "$W/scrape.txt" \
  || fail "gauge not served: $(cat "$W/scrape.txt")"
grep -q '^# TYPE orders_total counter$' "$W/scrape.txt" || fail "no counter TYPE line"
grep -q '^# HELP orders_total Orders placed$' "$W/scrape.txt" || fail "no HELP from the description"
grep -q '^orders_total{.*region="eu"} 3$' "$W/scrape.txt" || fail "counter"
grep -q '^request_duration_seconds_bucket{.*le="+Inf",route="/"} 1$' "$W/scrape.txt" \
  || fail "histogram +Inf bucket"
grep -q '^request_duration_seconds_sum{.*} 0.25$' "$W/scrape.txt" || fail "histogram sum"
grep -q '^queue_depth{.*queue="a"} -2$' "$W/scrape.txt" || fail "up-down counter"
promtool check metrics < "$W/scrape.txt" 2> "$W/promtool.err" \
  || fail "promtool check metrics: $(cat "$W/promtool.err")"

# A real Prometheus scrapes it; honor_labels keeps the applications' job and
# instance rather than the endpoint's.
mkdir -p "$W/p"
cat > "$W/p/prometheus.yml" <<YAML
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: tributary
    honor_labels: true
    static_configs: [ { targets: [ '$SCRAPE' ] } ]
YAML
start_prometheus "$W/p"
PROM="http://127.0.0.1:$PROM_PORT"
# The applications' metrics stay fresh while Prometheus starts: the SDK's
# points are sent again and again (each send is a node start, ~0.5 s, then a
# 0.3 s pause: well inside the 4 s expiry even on a busy machine).
(for _ in $(seq 1 150); do
   timeout 30 node "$JS/otlp_send.js" proto "$GRPC" js-e2e temperature_celsius 21.5 \
     "$(($(date +%s%N) / 1000000))" > /dev/null 2>&1 || true
   sleep 0.3
 done) &
track $!
prom_await "$PROM" 'up{job="tributary"}' 1
prom_await "$PROM" 'temperature_celsius{job="js-e2e"}' 21.5

# Expiry: a series nobody updates is gone after metric_expiration (4s); the
# one still being sent stays.
for _ in $(seq 1 200); do
  curl -sf "http://$SCRAPE/metrics" > "$W/scrape.txt" || true
  grep -q '^orders_total' "$W/scrape.txt" || break
  sleep 0.05
done
! grep -q '^orders_total' "$W/scrape.txt" || fail "orders_total did not expire"
grep -q '^temperature_celsius{' "$W/scrape.txt" || fail "a fresh series expired"
stop_tributaryd
echo PASS
