#!/usr/bin/env bash
# The client library against the real collector, as an application uses it.
# 1. kill -9 and restart tributaryd several times while 4 threads log: every
#    record the library did not report as dropped is stored exactly once.
# 2. SIGSTOP the collector while the threads log in drop mode: log calls stay
#    fast, the drops are counted; after SIGCONT delivery resumes, and again
#    every record not reported as dropped is stored exactly once.
# 3. The README's example program, configured by TRIBUTARY_* variables: its
#    logs, spans and metrics arrive, redacted and linked.
# 4. A collector that takes smaller batches than the app seals, and is down
#    while the app logs: the app's batches are split to fit once it answers,
#    and every record is stored exactly once.
# 5. Mutual TLS and gzip: the example program, configured by TRIBUTARY_TLS_*
#    and TRIBUTARY_COMPRESSION, delivers to a collector that requires client
#    certificates; so does loadgen.
set -euo pipefail
source tests/e2e/lib.sh
CLI=tools/cli/tributary
APP=tests/e2e/client_app
EXAMPLE=client/examples/checkout
W="$TEST_TMPDIR"
KILLS=${KILLS:-5}

PID=""
APP_PID=""
cleanup() {
  [ -n "$PID" ] && { kill -CONT "$PID" 2>/dev/null; kill -KILL "$PID" 2>/dev/null; } || true
  [ -n "$APP_PID" ] && kill -KILL "$APP_PID" 2>/dev/null || true
}
trap cleanup EXIT

stored_records() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" \
    | sed -n 's/^tributary_ingest_records_accepted_total{protocol="tributary",signal="logs"} \([0-9]*\)$/\1/p'
}

# Waits until the running collector has stored more records than now.
await_progress() {
  local before now
  before=$(stored_records || echo 0)
  for _ in $(seq 1 200); do
    now=$(stored_records || echo 0)
    [ "${now:-0}" -gt "${before:-0}" ] && return 0
    kill -0 "$APP_PID" 2>/dev/null || fail "the app ended early: $(cat "$W/app.out")"
    sleep 0.05
  done
  fail "no records arrived"
}


wait_app() {
  for _ in $(seq 1 1800); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
  set +e; wait "$APP_PID"; local rc=$?; set -e
  APP_PID=""
  cat "$1"
  [ "$rc" = 0 ] || fail "the app exited $rc"
}

value() { sed -n "s/^$1=\(.*\)$/\1/p" "$2"; }

# check DIR OUT: the buffer in DIR holds every record the app did not report
# as dropped, each exactly once.
check() {
  local dir=$1 out=$2
  "$CLI" wal dump "$dir/tributary-data" > "$dir/dump.jsonl"
  grep -o '"stringValue":"rec-[0-9]*"' "$dir/dump.jsonl" | sort > "$dir/ids"
  local dups stored logged dropped
  dups=$(uniq -d "$dir/ids" | head -5)
  [ -z "$dups" ] || fail "stored more than once: $dups"
  stored=$(wc -l < "$dir/ids")
  logged=$(value logged "$out")
  dropped=$(value dropped "$out")
  [ "$stored" = "$((logged - dropped))" ] || \
    fail "stored $stored records; logged $logged, dropped $dropped"
  [ "$(value delivered "$out")" = "$stored" ] || fail "delivered count differs from the buffer"
  echo "$stored of $logged records stored exactly once ($dropped reported dropped)"
}

# ---- 1. kill -9 while logging ----
K="$W/kill"
start_on_ports "$K"
"$APP" --endpoint=127.0.0.1:$GRPC_PORT --threads=4 --rate=5000 --records=200000 \
    --stop_file="$K/stop" > "$W/app_kill.out" 2>&1 &
APP_PID=$!
for k in $(seq 1 "$KILLS"); do
  await_progress
  sleep "0.$((RANDOM % 400 + 100))"   # the crash schedule: a random moment
  kill -KILL "$PID"
  wait "$PID" 2>/dev/null || true
  start_on_ports "$K"
done
await_progress
touch "$K/stop"
wait_app "$W/app_kill.out"
[ "$(value flush_complete "$W/app_kill.out")" = 1 ] || fail "flush incomplete"
[ "$(value reconnects "$W/app_kill.out")" -ge "$KILLS" ] || fail "fewer reconnects than kills"
stop_tributaryd
check "$K" "$W/app_kill.out"

# ---- 2. SIGSTOP: drop mode stays fast ----
S="$W/stop"
GRPC_PORT=0
HTTP_PORT=0
start_on_ports "$S"
"$APP" --endpoint=127.0.0.1:$GRPC_PORT --threads=4 --rate=20000 --records=400000 \
    --queue=1024 --unacked_bytes=1048576 --stop_file="$S/stop" > "$W/app_stop.out" 2>&1 &
APP_PID=$!
await_progress
kill -STOP "$PID"
sleep 2   # the outage: the app keeps logging against a frozen collector
kill -CONT "$PID"
await_progress
touch "$S/stop"
wait_app "$W/app_stop.out"
[ "$(value flush_complete "$W/app_stop.out")" = 1 ] || fail "flush incomplete after SIGCONT"
[ "$(value dropped "$W/app_stop.out")" -gt 0 ] || fail "no drops counted during the outage"
# A call that waited for the frozen collector would take the whole outage.
[ "$(value max_call_us "$W/app_stop.out")" -lt 200000 ] || fail "a log call blocked"
stop_tributaryd
check "$S" "$W/app_stop.out"

# ---- 3. the example program ----
E="$W/example"
GRPC_PORT=0
HTTP_PORT=0
start_on_ports "$E"
TRIBUTARY_ENDPOINT=127.0.0.1:$GRPC_PORT TRIBUTARY_SERVICE_INSTANCE_ID=example-1 \
    "$EXAMPLE" > "$W/example.out" 2>&1 || fail "example exited $?: $(cat "$W/example.out")"
cat "$W/example.out"
grep -q "^delivered [0-9]* records (batches: [0-9]*); 0 undelivered" "$W/example.out" \
  || fail "example did not deliver everything"
grep -q "^traceparent for downstream calls: 00-[0-9a-f]\{32\}-[0-9a-f]\{16\}-01$" \
  "$W/example.out" || fail "no traceparent printed"
stop_tributaryd
"$CLI" wal dump "$E/tributary-data" > "$E/dump.jsonl"
count() { grep -o "$1" "$E/dump.jsonl" | wc -l; }
[ "$(count '"stringValue":"order received"')" = 100 ] || fail "not 100 'order received' logs"
[ "$(count '"stringValue":"order audited"')" = 100 ] || fail "audit logs from the worker threads"
[ "$(count '"name":"charge card"')" = 100 ] || fail "not 100 payment spans"
[ "$(count '"stringValue":"never-sent"')" = 0 ] || fail "a password left the process"
[ "$(count '"stringValue":"\*\*\*REDACTED\*\*\*"')" -ge 80 ] || fail "passwords not redacted"
[ "$(count '"stringValue":"example-1"')" -ge 1 ] || fail "TRIBUTARY_SERVICE_INSTANCE_ID ignored"
grep -q '"name":"checkout_orders"' "$E/dump.jsonl" || fail "no checkout_orders metric"
grep -q '"name":"checkout_order_amount"' "$E/dump.jsonl" || fail "no histogram"
# The audit line logged on another thread carries the request's trace.
python3 - "$E/dump.jsonl" <<'PY' || fail "worker-thread logs lost their trace"
import json, sys
spans, audits = set(), []
for line in open(sys.argv[1]):
    e = json.loads(line)
    for rs in e.get("traces", {}).get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                if s["name"] == "POST /checkout":
                    spans.add((s["traceId"], s["spanId"]))
    for rl in e.get("logs", {}).get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                if r.get("body", {}).get("stringValue") == "order audited":
                    audits.append((r.get("traceId"), r.get("spanId")))
assert len(audits) == 100 and all(a in spans for a in audits), (len(audits), len(spans))
PY

# ---- 4. batches larger than the collector takes ----
M="$W/small"
mkdir -p "$M"
printf 'server:\n  max_message_bytes: 16KiB\n' > "$M/config.yaml"
GRPC_PORT=$(free_port)
HTTP_PORT=0
# Nothing listens yet: the app seals its own 1000-record batches, several
# times what this collector takes.
"$APP" --endpoint=127.0.0.1:$GRPC_PORT --threads=2 --rate=100000 --records=3000 \
    --stop_file="$M/stop" --logged_file="$M/logged" > "$W/app_small.out" 2>&1 &
APP_PID=$!
for _ in $(seq 1 600); do
  [ -e "$M/logged" ] && break
  kill -0 "$APP_PID" 2>/dev/null || fail "the app ended early: $(cat "$W/app_small.out")"
  sleep 0.05
done
[ -e "$M/logged" ] || fail "the app did not finish logging"
start_on_ports "$M" --config="$M/config.yaml"
wait_app "$W/app_small.out"
[ "$(value flush_complete "$W/app_small.out")" = 1 ] || fail "flush incomplete"
[ "$(value batches_split "$W/app_small.out")" -gt 0 ] || fail "no batch was split"
[ "$(value dropped "$W/app_small.out")" = 0 ] || fail "records dropped"
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" > "$M/metrics" || fail "no /metrics"
! grep -q '^tributary_ingest_batches_total{.*outcome="oversized"' "$M/metrics" \
  || fail "the collector refused oversized batches: $(grep oversized "$M/metrics")"
stop_tributaryd
check "$M" "$W/app_small.out"

# ---- 5. mutual TLS ----
T="$W/tls"
mkdir -p "$T"
CERT=$PWD/client/testing/test_cert.pem  # self-signed, names collector.test
KEY=$PWD/client/testing/test_key.pem
printf 'server:\n  tls: { cert_file: %s, key_file: %s, client_ca_file: %s }\n' \
    "$CERT" "$KEY" "$CERT" > "$T/config.yaml"
GRPC_PORT=0
HTTP_PORT=0
start_on_ports "$T" --config="$T/config.yaml"
grep -q "msg=listening .*grpc_tls=mutual" "$T"/stderr.* \
  || fail "no grpc_tls=mutual in: $(cat "$T"/stderr.*)"
TRIBUTARY_ENDPOINT=127.0.0.1:$GRPC_PORT TRIBUTARY_TLS_CA_FILE=$CERT \
    TRIBUTARY_TLS_CERT_FILE=$CERT TRIBUTARY_TLS_KEY_FILE=$KEY \
    TRIBUTARY_TLS_SERVER_NAME=collector.test TRIBUTARY_COMPRESSION=gzip \
    "$EXAMPLE" > "$W/example_tls.out" 2>&1 || fail "example over TLS: $(cat "$W/example_tls.out")"
grep -q "^delivered [0-9]* records (batches: [0-9]*); 0 undelivered" "$W/example_tls.out" \
  || fail "example over TLS did not deliver everything: $(cat "$W/example_tls.out")"
[ "$(stored_records)" -ge 200 ] \
  || fail "over TLS the collector stored $(stored_records) log records"
# loadgen, as an operator tries such a collector.
"$CLI" loadgen --target=127.0.0.1:$GRPC_PORT --tls_ca_file="$CERT" \
    --tls_server_name=collector.test --tls_cert_file="$CERT" --tls_key_file="$KEY" \
    --producers=2 --batch=100 --batches=10 --verify > "$T/loadgen.out" 2>&1 || fail "loadgen over TLS: $(cat "$T/loadgen.out")"
grep -q "verify: .*OK" "$T/loadgen.out" || fail "loadgen over TLS: $(cat "$T/loadgen.out")"
stop_tributaryd
echo "PASS"
