#!/usr/bin/env bash
# tributaryd as an operator runs it: bad configurations, ports in use, the
# HTTP endpoints (with /metrics linted by promtool), real traffic from
# `tributary loadgen`, SIGTERM, and the buffer checked afterwards.
set -euo pipefail
D=collector/tributaryd
CLI=tools/cli/tributary
W="$TEST_TMPDIR"
PIDS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts tributaryd in directory $1 with the remaining flags; sets PID, GRPC,
# HTTP from its "listening" line (ports are picked by the kernel).
start() {
  local dir=$1; shift
  mkdir -p "$dir"
  # A restart in the same directory must not find the last run's line.
  rm -f "$dir/stderr"
  (cd "$dir" && exec "$OLDPWD/$D" --grpc_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 "$@" \
      2> "$dir/stderr") &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 200); do
    if grep -q 'msg=listening' "$dir/stderr" 2>/dev/null; then break; fi
    kill -0 "$PID" 2>/dev/null || fail "tributaryd exited early: $(cat "$dir/stderr")"
    sleep 0.05
  done
  local line
  line=$(grep 'msg=listening' "$dir/stderr") || fail "no listening line: $(cat "$dir/stderr")"
  GRPC=$(sed -n 's/.* grpc=\([^ ]*\).*/\1/p' <<<"$line")
  HTTP=$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$line")
}

# Starts stalled_producer against the running collector (STALLED is its PID)
# and waits until its stream's ack writes are blocked.
start_stalled() {
  tests/e2e/stalled_producer "$GRPC" > "$W/stalled.out" 2>&1 &
  STALLED=$!
  PIDS+=("$STALLED")
  await_stalled
}

# Waits until the collector has answered more of stalled_producer's batches
# than its acks fit in that producer's receive window: from then on the
# stream's ack writes are blocked for good.
await_stalled() {
  local n=0
  for _ in $(seq 1 400); do
    n=$(curl -sf "http://$HTTP/metrics" \
        | sed -n 's/^tributary_ingest_batches_total{protocol="tributary",outcome="nothing_to_store"} \([0-9]*\)$/\1/p')
    [ "${n:-0}" -ge 20 ] && return 0
    sleep 0.05
  done
  fail "the stalled producer's batches were not answered: ${n:-none}"
}

# Sends SIGTERM and waits (bounded) for the exit code.
stop() {
  kill -TERM "$PID"
  for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$PID" 2>/dev/null && fail "tributaryd did not stop within 15 s of SIGTERM"
  set +e; wait "$PID"; STATUS=$?; set -e
}

# --- a bad configuration lists every problem, exits 2, and starts nothing ---
cat > "$W/bad.yaml" <<'EOF'
server:
  grpc_listen: "127.0.0.1:4317"
  colour: blue
storage:
  data_dir: ./never-created
  retention: forever
  max_disk_bytes: 10 parsecs
  durability: [sync]
ingest:
  redaction:
    patterns: [ { name: card, regex: "(unclosed" } ]
EOF
set +e
(cd "$W" && "$OLDPWD/$D" --config="$W/bad.yaml") 2> "$W/bad.err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "bad config exited $rc, want 2"
for want in "server.colour: unknown key" "storage.retention: bad duration" \
            "storage.max_disk_bytes: bad size" "storage.durability: must be a single value" \
            "ingest.redaction.patterns\[0\].regex: invalid RE2"; do
  grep -q "$want" "$W/bad.err" || fail "bad config: '$want' not reported: $(cat "$W/bad.err")"
done
grep -q "has 5 problems" "$W/bad.err" || fail "problem count: $(cat "$W/bad.err")"
[ ! -e "$W/never-created" ] || fail "a bad config still created the data directory"

set +e
"$D" --config="$W/missing.yaml" 2> "$W/missing.err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "missing.yaml: cannot be read" "$W/missing.err" || fail "unreadable config: rc=$rc"
set +e
"$D" --colour=blue 2> "$W/flag.err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "unknown flag --colour" "$W/flag.err" || fail "unknown flag: rc=$rc"

# --- a running collector ---
start "$W/a"
curl -sf "http://$HTTP/health/live" | grep -qx alive || fail "/health/live"
ready=$(curl -sf "http://$HTTP/health/ready") || fail "/health/ready not 200"
grep -q '"status":"ready"' <<<"$ready" || fail "/health/ready: $ready"
curl -sf "http://$HTTP/" | grep -q "<h1>tributaryd</h1>" || fail "status page"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/nope")
[ "$code" = 404 ] || fail "unknown path answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$HTTP/metrics")
[ "$code" = 405 ] || fail "POST answered $code"

# --- a second collector cannot take the same ports: exit 2, nothing served ---
set +e
(mkdir -p "$W/b" && cd "$W/b" && exec "$OLDPWD/$D" --grpc_listen=127.0.0.1:0 --http_listen="$HTTP") \
    2> "$W/b.err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "server.http_listen: cannot listen on $HTTP" "$W/b.err" \
  || fail "http port in use: rc=$rc $(cat "$W/b.err")"
set +e
(cd "$W/b" && exec "$OLDPWD/$D" --grpc_listen="$GRPC" --http_listen=127.0.0.1:0 --data_dir=./d2) \
    2> "$W/b2.err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "server.grpc_listen: cannot listen on $GRPC" "$W/b2.err" \
  || fail "grpc port in use: rc=$rc $(cat "$W/b2.err")"
[ ! -e "$W/b/d2" ] || fail "a port in use still opened the buffer"
# Both ports in use: both reported at once.
set +e
(cd "$W/b" && exec "$OLDPWD/$D" --grpc_listen="$GRPC" --http_listen="$HTTP" --data_dir=./d3) \
    2> "$W/b3.err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "server.http_listen: cannot listen on $HTTP.*server.grpc_listen: cannot listen on $GRPC" "$W/b3.err" \
  || fail "both ports in use: rc=$rc $(cat "$W/b3.err")"
# --- a second collector on the running one's data directory: exit 1, saying why ---
set +e
(cd "$W/a" && exec "$OLDPWD/$D" --grpc_listen=127.0.0.1:0 --http_listen=127.0.0.1:0) \
    2> "$W/b4.err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "tributary-data is in use by another process" "$W/b4.err" \
  || fail "same data_dir: rc=$rc $(cat "$W/b4.err")"
! grep -q "msg=stopped" "$W/b4.err" || fail "a collector that never started logged msg=stopped"

# --- real traffic ---
"$CLI" loadgen --target="$GRPC" --producers=2 --in_flight=4 --batch=200 --batches=25 \
    --verify --acked_out="$W/acked" > "$W/loadgen.out" || fail "loadgen: $(cat "$W/loadgen.out")"
grep -q "unacked at the end: 0" "$W/loadgen.out" || fail "loadgen left batches unacked"
grep -q "verify: .*OK" "$W/loadgen.out" || fail "GetStats does not match: $(cat "$W/loadgen.out")"
[ "$(wc -l < "$W/acked")" = 50 ] || fail "50 batches should be acked"

curl -sf "http://$HTTP/metrics" > "$W/metrics.txt" || fail "/metrics"
promtool check metrics < "$W/metrics.txt" 2> "$W/promtool.err" \
  || fail "promtool check metrics: $(cat "$W/promtool.err")"
grep -q '^tributary_ingest_records_accepted_total{protocol="tributary",signal="logs"} 10000$' \
  "$W/metrics.txt" || fail "accepted counter: $(grep accepted "$W/metrics.txt")"
grep -q '^tributary_buffer_entries 50$' "$W/metrics.txt" || fail "buffer entries"
grep -Eq '^tributary_buffer_filesystem_free_bytes [1-9]' "$W/metrics.txt" \
  || fail "free bytes: $(grep filesystem "$W/metrics.txt")"
grep -q '^tributary_ingest_ack_latency_seconds_count{protocol="tributary"} 50$' "$W/metrics.txt" \
  || fail "ack latency histogram: $(grep ack_latency_seconds_count "$W/metrics.txt")"
# Loadgen's log lines compress: the buffer stores them in well under half.
payload=$(sed -n 's/^tributary_buffer_appended_payload_bytes_total \(.*\)$/\1/p' "$W/metrics.txt")
stored=$(sed -n 's/^tributary_buffer_appended_stored_bytes_total \(.*\)$/\1/p' "$W/metrics.txt")
python3 -c 'import sys; p, s = map(float, sys.argv[1:]); sys.exit(not 0 < s < p / 2)' \
    "$payload" "$stored" || fail "not stored compressed: payload=$payload stored=$stored"
grep -q 'msg="buffer opened".*compression=lz4' "$W/a/stderr" \
  || fail "buffer opened line: $(grep 'buffer opened' "$W/a/stderr")"
curl -sf "http://$HTTP/" | grep -q 'appended (since start)</th><td>0\.[0-9]* (compression: lz4)' \
  || fail "status page compression: $(curl -sf "http://$HTTP/")"

# The status page shows recent ingest rates (sampled every second).
for _ in $(seq 1 100); do
  curl -sf "http://$HTTP/" | grep -q 'accepted (last [0-9]*s)</th><td>[0-9]*, [0-9]*<' && break
  sleep 0.05
done
curl -sf "http://$HTTP/" | grep -q 'accepted (last [0-9]*s)</th><td>[0-9]*, [0-9]*<' \
  || fail "status page rates: $(curl -sf "http://$HTTP/")"
curl -sf "http://$HTTP/" | grep -q '<tr><th>records accepted</th><td>10000</td>' \
  || fail "status page totals"

# Lifecycle lines only: no line per record or batch.
lines=$(wc -l < "$W/a/stderr")
[ "$lines" -lt 10 ] || fail "$lines log lines for 50 batches: $(cat "$W/a/stderr")"

stop
[ "$STATUS" = 0 ] || fail "SIGTERM exit status $STATUS"
for want in 'msg="signal received" signal=Terminated' 'msg="buffer closed" entries=50' 'msg=stopped'; do
  grep -q "$want" "$W/a/stderr" || fail "log lacks '$want': $(cat "$W/a/stderr")"
done

# Everything acked is on disk, exactly once, after the restart-free stop.
"$CLI" loadgen verify --data_dir="$W/a/tributary-data" --acked="$W/acked" > "$W/verify.out" \
  || fail "loadgen verify: $(cat "$W/verify.out")"

# --- a restart reopens the same buffer ---
start "$W/a"
grep -q 'msg="buffer opened" dir=./tributary-data entries=50' "$W/a/stderr" \
  || fail "restart did not find 50 entries: $(cat "$W/a/stderr")"
kill -INT "$PID"
for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
set +e; wait "$PID"; STATUS=$?; set -e
[ "$STATUS" = 0 ] || fail "SIGINT exit status $STATUS"

# --- a producer that never reads its acks cannot hold shutdown past its bound ---
printf 'server:\n  shutdown_timeout: 1s\n' > "$W/quick.yaml"
start "$W/a" --config="$W/quick.yaml"
start_stalled
stop
[ "$STATUS" = 0 ] || fail "bounded shutdown: exit status $STATUS"
grep -q 'streams still open at the shutdown deadline' "$W/a/stderr" \
  || fail "no deadline warning: $(cat "$W/a/stderr")"
kill -KILL "$STALLED" 2>/dev/null || true

# --- a second signal exits at once, even while the first one waits ---
# A producer that never reads its acks keeps the graceful shutdown waiting
# (for up to shutdown_timeout: 60 s here).
printf 'server:\n  shutdown_timeout: 60s\n' > "$W/slow.yaml"
start "$W/a" --config="$W/slow.yaml"
start_stalled
kill -TERM "$PID"
for _ in $(seq 1 200); do grep -q 'msg="shutting down' "$W/a/stderr" && break; sleep 0.05; done
grep -q 'msg="shutting down' "$W/a/stderr" || fail "no shutdown started"
kill -0 "$PID" 2>/dev/null || fail "the graceful shutdown did not wait for the stalled stream"
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID" 2>/dev/null && fail "a second SIGTERM did not end the collector within 5 s"
set +e; wait "$PID"; STATUS=$?; set -e
[ "$STATUS" = 1 ] || fail "second signal: exit status $STATUS, want 1"
grep -q 'msg="second signal: exiting without a clean shutdown"' "$W/a/stderr" \
  || fail "no second-signal line: $(cat "$W/a/stderr")"
kill -KILL "$STALLED" 2>/dev/null || true
# The buffer is intact after the immediate exit.
"$CLI" wal verify "$W/a/tributary-data" > "$W/wal.out" || fail "wal verify: $(cat "$W/wal.out")"
echo PASS
