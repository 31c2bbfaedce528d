#!/usr/bin/env bash
# The OTLP exporter when its backend is away, and when the collector dies
# while exporting.
# 1. The backend is down while an application logs through the client
#    library and `tributary loadgen` adds 300000 records (~130 MB): ingest
#    goes on, the data waits on disk (the collector's resident memory grows
#    by far less than what was stored), the exporter's lag grows and it
#    shows as degraded; nothing is dropped.
# 2. The backend comes up: the exporter drains. While it drains, tributaryd
#    is killed with kill -9 and restarted.
# 3. The backend ends up with every record the application logged, and the
#    records that arrived twice are at most what was in flight at the kill:
#    one group (batch.max_records, plus the stored batch that crossed it; the
#    client's batches hold up to 1000 records).
set -euo pipefail
source tests/e2e/lib.sh
JS=tests/e2e/js
APP=tests/e2e/client_app
W="$TEST_TMPDIR"
MAX_RECORDS=2000

require_node_peers
BACKEND=$(free_port)
mkdir -p "$W/c"
cat > "$W/c/config.yaml" <<YAML
storage:
  memory_budget: 32MiB
exporters:
  otlp:
    endpoint: "127.0.0.1:$BACKEND"
    retry: { initial_interval: 50ms, max_interval: 500ms }
    batch: { max_records: $MAX_RECORDS, max_delay: 100ms }
YAML
start_tributaryd "$W/c" --config=config.yaml
GRPC_ADDR=$GRPC
HTTP_ADDR=$HTTP

metric() { curl -sf "http://$HTTP_ADDR/metrics" | sed -n "s/^$1 \([0-9.e+]*\)$/\1/p"; }

# 1. Log 40000 records with the backend down.
"$APP" --endpoint="$GRPC_ADDR" --threads=4 --rate=5000 --records=10000 > "$W/app.out" 2>&1 \
  || fail "app: $(cat "$W/app.out")"
cat "$W/app.out"
[ "$(sed -n 's/^dropped=//p' "$W/app.out")" = 0 ] || fail "the app dropped records"
LOGGED=$(sed -n 's/^logged=//p' "$W/app.out")
rss_before=$(metric tributary_process_resident_memory_bytes)
stored_before=$(metric tributary_buffer_appended_payload_bytes_total)
tools/cli/tributary loadgen --target="$GRPC_ADDR" --producers=2 --batch=1000 --batches=150 \
    --producer_prefix=bulk --duration=120s > "$W/loadgen.out" 2>&1 \
  || fail "loadgen: $(cat "$W/loadgen.out")"
rss_after=$(metric tributary_process_resident_memory_bytes)
stored_after=$(metric tributary_buffer_appended_payload_bytes_total)
on_disk=$(metric tributary_buffer_bytes)
# Under AddressSanitizer (ASAN_OPTIONS is set by --config=asan) freed memory
# is held in quarantine, so resident memory says nothing: only reported.
# The backlog is counted as received; on disk it is smaller (compressed).
python3 - "$rss_before" "$rss_after" "$stored_before" "$stored_after" "$on_disk" \
    "${ASAN_OPTIONS:+asan}" <<'PY' || fail "memory grew with the backlog"
import sys
rss0, rss1, st0, st1, disk = (float(x) for x in sys.argv[1:6])
asan = sys.argv[6] == "asan"
grew, stored = (rss1 - rss0) / 2**20, (st1 - st0) / 2**20
print(f"backend down: {stored:.0f} MiB more waiting ({disk / 2**20:.0f} MiB on disk), "
      f"resident memory {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MiB")
assert stored > 100, f"only {stored:.0f} MiB stored"
assert asan or grew < stored / 2, f"resident memory grew {grew:.0f} MiB for {stored:.0f} MiB of backlog"
PY
lag=$(metric 'tributary_exporter_lag_entries{exporter="otlp"}')
[ "${lag%.*}" -gt 0 ] || fail "no exporter lag while the backend is down"
grep -q '"otlp":{"status":"degraded"' <<<"$(curl -sf "http://$HTTP_ADDR/health/ready")" \
  || fail "exporter not shown degraded: $(curl -sf "http://$HTTP_ADDR/health/ready")"
[ -z "$(metric 'tributary_exporter_records_dropped_total{exporter="otlp",reason="retry_exhausted"}')" ] \
  || fail "records given up"

# 2. The backend comes up; kill -9 the collector once part has arrived.
: > "$W/received.jsonl"
node "$JS/otlp_receiver.js" proto "$W/received.jsonl" 0 "$BACKEND" > "$W/receiver.out" 2>&1 &
track $!
for _ in $(seq 1 400); do
  [ "$(grep -c . "$W/received.jsonl")" -ge 2 ] && break
  sleep 0.025
done
[ "$(grep -c . "$W/received.jsonl")" -ge 2 ] || fail "the exporter did not resume"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
PID=""
start_tributaryd "$W/c" --config=config.yaml
HTTP_ADDR=$HTTP

# 3. Wait for the lag to reach 0, then count what arrived.
for _ in $(seq 1 600); do
  lag=$(metric 'tributary_exporter_lag_entries{exporter="otlp"}')
  [ "${lag:-1}" = 0 ] && [ "$(metric 'tributary_exporter_records_sent_total{exporter="otlp"}')" != "" ] && break
  sleep 0.1
done
[ "${lag:-1}" = 0 ] || fail "the exporter did not drain (lag $lag)"
python3 - "$W/received.jsonl" "$LOGGED" "$((MAX_RECORDS + 1000))" <<'PY' || fail "delivery check"
import collections, json, sys
path, logged, in_flight = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = collections.Counter()
for line in open(path):
    for rl in json.loads(line).get("logs", {}).get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                body = r["body"]["stringValue"]
                if body.startswith("rec-"):  # the application's, not loadgen's
                    seen[body] += 1
missing = logged - len(seen)
extra = sum(n - 1 for n in seen.values())
print(f"{len(seen)} distinct records of {logged} arrived; {extra} arrived more than once")
assert missing == 0, f"{missing} records never arrived"
assert extra <= in_flight, f"{extra} duplicates, more than one group in flight ({in_flight})"
PY
stop_tributaryd
echo PASS
