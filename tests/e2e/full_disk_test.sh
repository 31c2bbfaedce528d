#!/usr/bin/env bash
# A real full disk. tributaryd keeps its buffer on a 48 MiB tmpfs of its own
# (mounted in a private mount namespace) while `tributary loadgen` streams
# from two producers until the file system is full. While it is full:
# appends fail with a clear error and are counted, /health/ready answers 503,
# /health/live 200, and loadgen's batches are answered "resend later". Then
# the file system grows: ingest resumes by itself, loadgen gets every batch
# acked, and every acked batch is stored exactly once.
set -euo pipefail

if [ -z "${TRIBUTARY_PRIVATE_MOUNTS:-}" ]; then
  # Root may mount in a new mount namespace; anyone else needs a user
  # namespace as well.
  flags=(--mount --propagation private)
  [ "$(id -u)" = 0 ] || flags=(--user --map-root-user "${flags[@]}")
  exec env TRIBUTARY_PRIVATE_MOUNTS=1 unshare "${flags[@]}" "$0" "$@"
fi

source tests/e2e/lib.sh
CLI=tools/cli/tributary
W="$TEST_TMPDIR"
D="$W/small"
PRODUCERS=2
BATCHES=1200  # per producer, 100 records each: ~100 MB, twice the file system

mkdir -p "$D"
mount -t tmpfs -o size=48m tmpfs "$D" || fail "cannot mount a tmpfs for the test"

LOADGEN=""
cleanup() {
  local rc=$?
  [ -n "$LOADGEN" ] && kill -KILL "$LOADGEN" 2>/dev/null || true
  # A failure that did not say why (a command under `set -e`, the collector
  # dying) still leaves what the collector and loadgen last said.
  if [ "$rc" != 0 ]; then
    for f in "$W"/stderr.* "$W/loadgen.out"; do
      [ -e "$f" ] && { echo "--- $f:" >&2; tail -n 20 "$f" >&2; }
    done
  fi
  return 0
}
trap 'cleanup; kill_tracked' EXIT

metric() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | sed -n "s/^$1 \([0-9.e+]*\)$/\1/p"
}
ready_code() {
  curl -s -o "$W/ready.json" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health/ready" || true
}

# Stored as sent, so loadgen's 100 MB fill the 48 MiB for certain.
printf 'storage:\n  data_dir: %s/data\n  compression: none\n' "$D" > "$W/config.yaml"
start_on_ports "$W" --config="$W/config.yaml"
"$CLI" loadgen --target=127.0.0.1:$GRPC_PORT --producers=$PRODUCERS --in_flight=4 --batch=100 \
    --batches=$BATCHES --rate=20000 --duration=600s --drain_timeout=120s \
    --producer_prefix=full --acked_out="$W/acked" > "$W/loadgen.out" 2>&1 &
LOADGEN=$!

# The file system fills: appends start failing.
for _ in $(seq 1 1200); do
  [ "$(metric tributary_buffer_append_errors_total || echo 0)" != 0 ] && break
  kill -0 "$LOADGEN" 2>/dev/null || fail "loadgen ended before the disk filled: $(cat "$W/loadgen.out")"
  sleep 0.05
done
errors=$(metric tributary_buffer_append_errors_total)
[ "${errors:-0}" != 0 ] || fail "no append failed; df: $(df -h "$D" | tail -1)"
echo "disk full: $(df -h "$D" | tail -1); append errors so far: $errors"

# Full: the collector is alive, not ready, and says why.
kill -0 "$PID" || fail "the collector died on a full disk"
[ "$(metric tributary_buffer_filesystem_nearly_full)" = 1 ] \
  || fail "nearly_full gauge: $(metric tributary_buffer_filesystem_nearly_full)"
free=$(metric tributary_buffer_filesystem_free_bytes)
python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 48 * 2**20)' "${free:--1}" \
  || fail "free bytes on a 48 MiB tmpfs: $free"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health/live")" = 200 ] \
  || fail "/health/live is not 200"
code=""
for _ in $(seq 1 100); do
  code=$(ready_code)
  [ "$code" = 503 ] && break
  sleep 0.05
done
[ "$code" = 503 ] || fail "/health/ready answered $code on a full disk: $(cat "$W/ready.json")"
cat "$W/ready.json"; echo
grep -qi 'space' "$W/ready.json" || fail "the readiness answer does not say the disk is full"
appends_when_full=$(metric tributary_buffer_appends_total)

# Room again: ingest resumes without a restart.
mount -t tmpfs -o remount,size=512m tmpfs "$D" || fail "cannot grow the tmpfs"
await_loadgen "$LOADGEN" "$W/loadgen.out"
LOADGEN=""
[ "$(metric tributary_buffer_appends_total)" -gt "$appends_when_full" ] \
  || fail "nothing was stored after the disk grew"
[ "$(ready_code)" = 200 ] || fail "/health/ready did not recover: $(cat "$W/ready.json")"
kill -0 "$PID" || fail "the collector died"
stop_tributaryd

check_acked "$W/acked" "$D/data" full "$PRODUCERS" "$BATCHES"
echo "PASS: $errors append errors while full; $(wc -l < "$W/acked") batches acked, each stored once"
