#!/usr/bin/env bash
# TLS on the collector's HTTP ports: its own (/metrics, /health/*, the status
# page) with client certificates required, and the Prometheus exporter's
# scrape endpoint with server TLS. curl checks what gets in and what does
# not; a real Prometheus (Debian's) scrapes both over TLS.
set -euo pipefail
source tests/e2e/lib.sh
W="$TEST_TMPDIR"
CERT=$PWD/client/testing/test_cert.pem  # self-signed CA, names collector.test and 127.0.0.1
KEY=$PWD/client/testing/test_key.pem

mkdir -p "$W/c"
cat > "$W/c/config.yaml" <<YAML
server:
  http_tls: { cert_file: "$CERT", key_file: "$KEY", client_ca_file: "$CERT" }
exporters:
  prometheus:
    listen: "127.0.0.1:0"
    tls: { cert_file: "$CERT", key_file: "$KEY" }
YAML
start_tributaryd "$W/c" --config=config.yaml

grep -q 'msg=listening.*grpc_tls=off http_tls=mutual' "$W/c/stderr" \
  || fail "listening line: $(grep msg=listening "$W/c/stderr")"
SCRAPE=$(sed -n 's/.*msg="prometheus exporter listening" address=\([^ ]*\) tls=on.*/\1/p' \
  "$W/c/stderr")
[ -n "$SCRAPE" ] || fail "prometheus exporter line: $(grep prometheus "$W/c/stderr")"

# The collector's port: plain HTTP is not served, TLS without a client
# certificate is refused with a reason, and with one it answers.
if curl -sf -o /dev/null "http://$HTTP/metrics"; then fail "plain HTTP answered"; fi
code=$(curl -s -o "$W/refused.txt" -w '%{http_code}' --cacert "$CERT" "https://$HTTP/metrics" || true)
[ "$code" = 403 ] || fail "no client certificate: HTTP $code, want 403"
grep -q 'client certificate' "$W/refused.txt" || fail "refusal says: $(cat "$W/refused.txt")"
curl -sf --cacert "$CERT" --cert "$CERT" --key "$KEY" "https://$HTTP/metrics" > "$W/metrics.txt" \
  || fail "mutual TLS /metrics"
promtool check metrics < "$W/metrics.txt" 2> "$W/promtool.err" \
  || fail "promtool check metrics: $(cat "$W/promtool.err")"
curl -sf --cacert "$CERT" --cert "$CERT" --key "$KEY" "https://$HTTP/health/ready" \
  | grep -q '"status":"ready"' || fail "/health/ready over mutual TLS"
# A certificate the configured CA did not sign is refused too.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/other.key" -out "$W/other.pem" \
  -days 1 -subj /CN=stranger 2> /dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CERT" --cert "$W/other.pem" \
  --key "$W/other.key" "https://$HTTP/metrics" || true)
[ "$code" = 403 ] || fail "a stranger's certificate: HTTP $code, want 403"

# The scrape endpoint: TLS, no client certificate needed.
if curl -sf -o /dev/null "http://$SCRAPE/metrics"; then fail "plain HTTP scrape answered"; fi
curl -sf --cacert "$CERT" "https://$SCRAPE/metrics" > /dev/null || fail "TLS scrape"

# A real Prometheus scrapes both.
mkdir -p "$W/p"
cat > "$W/p/prometheus.yml" <<YAML
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: collector
    scheme: https
    tls_config: { ca_file: "$CERT", cert_file: "$CERT", key_file: "$KEY" }
    static_configs: [ { targets: [ '$HTTP' ] } ]
  - job_name: apps
    scheme: https
    tls_config: { ca_file: "$CERT" }
    static_configs: [ { targets: [ '$SCRAPE' ] } ]
YAML
start_prometheus "$W/p"
PROM="http://127.0.0.1:$PROM_PORT"
prom_await "$PROM" 'up{job="collector"}' 1
prom_await "$PROM" 'up{job="apps"}' 1
prom_await "$PROM" 'count(tributary_buffer_writable{job="collector"})' 1
stop_tributaryd

# Files that are not what the keys say stop the start, each named (exit 2).
cat > "$W/c/bad.yaml" <<YAML
server:
  http_tls: { cert_file: "$KEY", key_file: "$KEY" }
exporters:
  prometheus:
    listen: "127.0.0.1:0"
    tls: { cert_file: "$CERT", key_file: "$CERT" }
YAML
set +e
(cd "$W/c" && "$OLDPWD/collector/tributaryd" --config=bad.yaml --grpc_listen=127.0.0.1:0 \
  --http_listen=127.0.0.1:0) 2> "$W/bad.err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "bad TLS files exited $rc, want 2: $(cat "$W/bad.err")"
grep -q 'server.http_tls.cert_file: .* holds no PEM certificate' "$W/bad.err" \
  || fail "bad http_tls: $(cat "$W/bad.err")"
grep -q 'exporters.prometheus.tls.key_file: .* holds no PEM private key' "$W/bad.err" \
  || fail "bad prometheus tls: $(cat "$W/bad.err")"
echo "PASS"
