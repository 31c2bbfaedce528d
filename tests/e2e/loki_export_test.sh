#!/usr/bin/env bash
# The Loki exporter against a strict stand-in for Loki's push API
# (js/loki_fake.js, written from the protocol):
# 0. The stand-in answers hand-made requests the way Loki 2.8 does.
# 1. Logs from the OpenTelemetry JS SDK arrive as snappy protobuf in the
#    configured tenant, in streams with the configured labels, with trace_id
#    and span_id in the logfmt line.
# 2. 429s (with Retry-After) and 503s are retried: 22000 records an
#    application logs through the client library all arrive, once, in
#    timestamp order per stream.
# 3. A 400 is dropped with Loki's message and counted; delivery goes on.
# 4. Restarted with JSON + gzip and JSON lines: the cursor carries on and
#    the new records arrive in that form.
set -euo pipefail
source tests/e2e/lib.sh
JS=tests/e2e/js
APP=tests/e2e/client_app
W="$TEST_TMPDIR"

require_node_peers
node "$JS/loki_fake.js" "$W/loki.port" > "$W/loki.out" 2>&1 &
track $!
for _ in $(seq 1 200); do [ -s "$W/loki.port" ] && break; sleep 0.05; done
[ -s "$W/loki.port" ] || fail "the Loki stand-in did not start: $(cat "$W/loki.out")"
LOKI=127.0.0.1:$(cat "$W/loki.port")

# 0. The stand-in's own answers.
now=$(date +%s%N)
code() { curl -s -o "$W/answer" -w '%{http_code}' -X POST "$@" "http://$LOKI/loki/api/v1/push"; }
json_line() { printf '{"streams":[{"stream":{%s},"values":[[%s,"line"]]}]}' "$1" "$2"; }
[ "$(code -H 'Content-Type: application/json' --data "$(json_line '"job":"x"' "\"$now\"")")" = 204 ] \
  || fail "valid JSON push: $(cat "$W/answer")"
[ "$(code -H 'Content-Type: application/json' --data "$(json_line '"job":"x"' "$now")")" = 400 ] \
  || fail "a numeric timestamp was accepted"
[ "$(code -H 'Content-Type: application/json' --data "$(json_line '"job":"x"' "\"$((now / 1000000000))\"")")" = 400 ] \
  || fail "a timestamp in seconds was accepted"
grep -q 'timestamp too old' "$W/answer" || fail "seconds: $(cat "$W/answer")"
[ "$(code -H 'Content-Type: application/json' --data "$(json_line '' "\"$now\"")")" = 400 ] \
  || fail "a stream without labels was accepted"
[ "$(code -H 'Content-Type: application/json' --data "$(json_line '"1job":"x"' "\"$now\"")")" = 400 ] \
  || fail "a bad label name was accepted"
[ "$(code -H 'Content-Type: application/json' --data '{"streams":[]}')" = 204 ] || fail "empty push"
[ "$(code -H 'Content-Type:' --data 'x')" = 400 ] || fail "no Content-Type was accepted"
grep -q 'mime: no media type' "$W/answer" || fail "no media type: $(cat "$W/answer")"
[ "$(code -H 'Content-Type: application/x-protobuf' --data 'not snappy at all')" = 400 ] \
  || fail "a body that is not snappy was accepted"
grep -q 'snappy: corrupt input' "$W/answer" || fail "not snappy: $(cat "$W/answer")"
[ "$(code -H 'Content-Type: application/json' -H 'Content-Encoding: br' --data '{}')" = 400 ] \
  || fail "Content-Encoding br was accepted"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$LOKI/loki/api/v1/push")" = 405 ] \
  || fail "GET on the push path"

mkdir -p "$W/c"
write_config() {
  cat > "$W/c/config.yaml" <<YAML
exporters:
  loki:
    url: "http://$LOKI"
    tenant: team-a
    labels: [service.name, severity_text, region]
    $1
    retry: { initial_interval: 50ms, max_interval: 2s }
    batch: { max_records: 5000, max_delay: 100ms }
YAML
}
write_config "encoding: protobuf"
start_tributaryd "$W/c" --config=config.yaml

metric() { curl -sf "http://$HTTP/metrics" | sed -n "s/^$1 \([0-9.e+]*\)$/\1/p"; }
streams() { curl -sf "http://$LOKI/test/streams" > "$W/streams.json"; }
# await_entries N: until the stand-in holds N entries in all.
await_entries() {
  local n=0
  for _ in $(seq 1 600); do
    n=$(curl -sf "http://$LOKI/test/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')
    [ "$n" -ge "$1" ] && return 0
    sleep 0.05
  done
  fail "the stand-in holds $n entries, want $1; stand-in: $(curl -sf "http://$LOKI/test/stats");" \
    "exporter: $(curl -sf "http://$HTTP/health/ready"); log: $(tail -5 "$W/c/stderr")"
}

# 1. The SDK's three logs (plus the stand-in's own check line).
timeout 120 node "$JS/otel_sdk.js" send "$GRPC" "$W/expected.json" || fail "SDK export"
await_entries 4
streams
python3 - "$W/streams.json" "$W/expected.json" <<'PY' || fail "SDK logs in Loki"
import json, sys
streams = [s for s in json.load(open(sys.argv[1])) if s["tenant"] == "team-a"]
expected = json.load(open(sys.argv[2]))["logs"]
def find(body):
    prefix = "msg=" + (body if " " not in body else '"%s"' % body) + " "
    found = [(s["labels"], line) for s in streams for _, line in s["entries"]
             if (line + " ").startswith(prefix)]
    assert len(found) == 1, (body, found)
    return found[0]
for want in expected:
    labels, line = find(want["body"])
    assert labels["service_name"] == "js-e2e", labels
    assert "severity_text" in labels, labels
    if want["traceId"]:
        assert f"trace_id={want['traceId']}" in line and f"span_id={want['spanId']}" in line, line
    else:
        assert "trace_id=" not in line, line
declined = find("payment declined")
assert declined[0]["severity_text"] == "ERROR", declined
assert "order_id=42" in declined[1] and "password=***REDACTED***" in declined[1], declined
print("SDK logs: labels, tenant and trace context as configured")
PY

# 2. 429 with Retry-After, then 503s: retried, and everything arrives once.
# app SERVICE RECORDS: an application logs RECORDS records through the client.
app() {
  "$APP" --endpoint="$GRPC" --service="$1" --threads=2 --rate=20000 --records=$(($2 / 2)) \
      > "$W/app.$1" 2>&1 || fail "app: $(cat "$W/app.$1")"
  [ "$(sed -n 's/^delivered=//p' "$W/app.$1")" = "$2" ] || fail "app $1: $(cat "$W/app.$1")"
}
curl -sf -X POST "http://$LOKI/test/fail?status=429&count=2&retry_after=1" || fail "stand-in control"
app first 20000
await_entries 20004
curl -sf -X POST "http://$LOKI/test/fail?status=503&count=2" || fail "stand-in control"
app second 2000
await_entries 22004
streams
python3 - "$W/streams.json" <<'PY' || fail "application records in Loki"
import collections, json, sys
lines = collections.Counter()
for s in json.load(open(sys.argv[1])):
    if s["tenant"] != "team-a" or s["labels"]["service_name"] not in ("first", "second"):
        continue
    ts = [int(t) for t, _ in s["entries"]]
    assert ts == sorted(ts), f"entries out of timestamp order in {s['labels']}"
    for _, line in s["entries"]:
        lines[(s["labels"]["service_name"], line.split(" ")[0])] += 1
dups = sum(n - 1 for n in lines.values())
assert dups == 0, f"{dups} lines arrived twice"
assert len(lines) == 22000, f"{len(lines)} distinct lines, want 22000"
print(f"{len(lines)} lines, none twice, in timestamp order per stream")
PY
[ "$(metric 'tributary_exporter_retries_total{exporter="loki"}')" -ge 4 ] 2>/dev/null \
  || fail "retries not counted: $(curl -sf "http://$HTTP/metrics" | grep 'exporter="loki"')"

# 3. A 400: dropped with Loki's message, counted, delivery goes on.
curl -sf -X POST "http://$LOKI/test/fail?status=400&count=1" || fail "stand-in control"
app refused 100
for _ in $(seq 1 200); do
  [ -n "$(metric 'tributary_exporter_records_dropped_total{exporter="loki",reason="permanent"}')" ] && break
  sleep 0.05
done
dropped=$(metric 'tributary_exporter_records_dropped_total{exporter="loki",reason="permanent"}')
[ "${dropped:-0}" -ge 1 ] || fail "the refused push was not counted as dropped"
# The rest of the 100 (if they made a second push) arrived.
await_entries $((22004 + 100 - dropped))
grep -q 'entry out of order' <<<"$(curl -sf "http://$HTTP/health/ready")$(cat "$W/c/stderr")" \
  || fail "Loki's reason was not reported"
stop_tributaryd

# 4. JSON + gzip, JSON lines: the cursor carries on.
write_config "encoding: json
    compression: gzip
    line_format: json"
start_tributaryd "$W/c" --config=config.yaml
app json 1000
await_entries $((23104 - dropped))
curl -sf "http://$LOKI/test/stats" > "$W/stats.json"
python3 - "$W/stats.json" "$((23104 - dropped))" <<'PY' || fail "JSON pushes"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["entries"] == int(sys.argv[2]), f"{s['entries']} entries: the restart resent or lost records"
assert s["encodings"].get("json+gzip", 0) >= 1, s
print("after the restart:", s)
PY
streams
python3 - "$W/streams.json" <<'PY' || fail "JSON lines"
import json, sys
found = 0
for s in json.load(open(sys.argv[1])):
    for _, line in s["entries"]:
        if line.startswith("{"):
            doc = json.loads(line)
            assert "msg" in doc, line
            found += 1
assert found == 1000, f"{found} JSON lines, want 1000"
PY
stop_tributaryd
echo PASS
