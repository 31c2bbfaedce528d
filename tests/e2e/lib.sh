# Shared by the end-to-end scripts: `source tests/e2e/lib.sh`.

fail() { echo "FAIL: $*" >&2; exit 1; }

# Processes this script started, killed when it exits (the collector's PID,
# set by start_tributaryd, is killed too if still running).
TRACKED=()
track() { TRACKED+=("$1"); }
kill_tracked() {
  [ -n "${PID:-}" ] && kill -CONT "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
  for p in "${TRACKED[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done
  return 0
}
trap kill_tracked EXIT

# The npm peers (tests/e2e/js) must be on NODE_PATH; tools/test.sh sets it.
require_node_peers() {
  [ -n "${NODE_PATH:-}" ] && [ -d "$NODE_PATH/@opentelemetry/sdk-logs" ] \
    || fail "NODE_PATH must point at the node_modules of tests/e2e/js (run tools/test.sh)"
  command -v node > /dev/null || fail "node is not installed (tools/setup.sh installs it)"
}

# start_tributaryd DIR [FLAGS...]: starts collector/tributaryd in DIR on
# kernel-picked loopback ports; sets PID, GRPC and HTTP (host:port).
start_tributaryd() {
  local dir=$1; shift
  mkdir -p "$dir"
  # A restart in the same directory must not find the last run's line.
  rm -f "$dir/stderr"
  (cd "$dir" && exec "$OLDPWD/collector/tributaryd" --grpc_listen=127.0.0.1:0 \
      --http_listen=127.0.0.1:0 "$@" 2> "$dir/stderr") &
  PID=$!
  for _ in $(seq 1 200); do
    grep -q 'msg=listening' "$dir/stderr" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || fail "tributaryd exited: $(cat "$dir/stderr")"
    sleep 0.05
  done
  GRPC=$(sed -n 's/.*msg=listening grpc=\([^ ]*\).*/\1/p' "$dir/stderr")
  HTTP=$(sed -n 's/.*msg=listening.* http=\([^ ]*\).*/\1/p' "$dir/stderr")
  [ -n "$GRPC" ] || fail "no listening line: $(cat "$dir/stderr")"
}

# start_on_ports DIR [FLAGS...]: starts collector/tributaryd in DIR. The first start in
# a script picks loopback ports; later ones reuse them, so clients reconnect to
# the same address after a restart (reset GRPC_PORT and HTTP_PORT to 0 for a
# new collector). Each run's stderr is DIR/stderr.$run. Sets PID, GRPC_PORT,
# HTTP_PORT and run.
GRPC_PORT=0
HTTP_PORT=0
run=0
start_on_ports() {
  local dir=$1; shift
  run=$((run + 1))
  local err="$dir/stderr.$run"
  mkdir -p "$dir"
  (cd "$dir" && exec "$OLDPWD/collector/tributaryd" --grpc_listen=127.0.0.1:$GRPC_PORT \
      --http_listen=127.0.0.1:$HTTP_PORT "$@" 2> "$err") &
  PID=$!
  for _ in $(seq 1 400); do
    grep -q 'msg=listening' "$err" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || fail "collector run $run exited: $(cat "$err")"
    sleep 0.05
  done
  grep -q 'msg=listening' "$err" || fail "collector run $run did not start: $(cat "$err")"
  GRPC_PORT=$(sed -n 's/.*grpc=127.0.0.1:\([0-9]*\).*/\1/p' "$err")
  HTTP_PORT=$(sed -n 's/.*http=127.0.0.1:\([0-9]*\).*/\1/p' "$err")
}

# stop_tributaryd: SIGTERM, then the exit code must be 0 (bounded wait).
stop_tributaryd() {
  kill -TERM "$PID"
  for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
  set +e; wait "$PID"; local rc=$?; set -e
  PID=""
  [ "$rc" = 0 ] || fail "tributaryd exited $rc after SIGTERM"
}

# free_port: a free loopback port, for peers that cannot report a
# kernel-picked one.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_prometheus DIR [FLAGS...]: Debian's Prometheus with DIR/prometheus.yml
# on a free loopback port, waited for until ready; sets PROM_PORT.
start_prometheus() {
  local dir=$1; shift
  command -v prometheus > /dev/null || fail "prometheus is not installed (tools/setup.sh installs it)"
  PROM_PORT=$(free_port)
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address=127.0.0.1:$PROM_PORT "$@" > "$dir/log" 2>&1 &
  local pid=$!
  track "$pid"
  for _ in $(seq 1 400); do
    curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" > /dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || fail "prometheus exited: $(tail -5 "$dir/log")"
    sleep 0.05
  done
  fail "prometheus not ready: $(tail -5 "$dir/log")"
}

# prom_query URL PROMQL: the first result's value from a Prometheus-style
# query API at URL (scheme, address and port), or empty.
prom_query() {
  curl -sG "$1/api/v1/query" --data-urlencode "query=$2" 2>/dev/null \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' \
    2>/dev/null || true
}

# prom_await URL PROMQL WANT: polls (up to 30 s) until the query returns WANT.
prom_await() {
  local got=""
  for _ in $(seq 1 300); do
    got=$(prom_query "$1" "$2")
    [ "$got" = "$3" ] && return 0
    sleep 0.1
  done
  fail "$2 = '${got}', want $3"
}

# await_loadgen PID OUT: waits (at most 4 minutes) for a `tributary loadgen`
# running in the background to finish, prints its report OUT, and fails unless
# it exited 0 with every batch acked.
await_loadgen() {
  local pid=$1 out=$2 rc
  for _ in $(seq 1 2400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "loadgen still running: $(tail -5 "$out")"
  set +e; wait "$pid"; rc=$?; set -e
  cat "$out"
  [ "$rc" = 0 ] || fail "loadgen exited $rc"
  grep -q "unacked at the end: 0" "$out" || fail "loadgen lost batches"
}

# check_acked ACKED DATA_DIR PREFIX PRODUCERS BATCHES: loadgen's producers
# PREFIX-0, PREFIX-1, ... each got all BATCHES seqs acked (ACKED is its
# --acked_out file), and the buffer in DATA_DIR holds every acked batch
# exactly once.
check_acked() {
  local acked=$1 data=$2 prefix=$3 producers=$4 batches=$5 p n
  for p in $(seq 0 $((producers - 1))); do
    n=$(awk -v p="$prefix-$p" '$1 == p { print $2 }' "$acked" | sort -un | wc -l)
    [ "$n" = "$batches" ] || fail "producer $prefix-$p: $n of $batches seqs acked"
  done
  tools/cli/tributary loadgen verify --data_dir="$data" --acked="$acked" | tee "$acked.verify"
  grep -q "^OK: every acked batch is stored exactly once" "$acked.verify" || fail "verify"
}
