#!/usr/bin/env bash
# Builds (optimized) and starts the collector in the foreground. With no
# arguments it runs on embedded defaults: gRPC on 127.0.0.1:4317, HTTP on
# 127.0.0.1:8888, data in ./tributary-data (relative to where you run this),
# durability sync. Arguments go to tributaryd (--config=FILE, --data_dir=DIR,
# --grpc_listen=HOST:PORT, --http_listen=HOST:PORT). Stop it with Ctrl-C.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/tools/setup.sh"
CACHE_DIR="${TRIBUTARY_DISK_CACHE:-${HOME:-/tmp}/.cache/tributary-bazel-disk-cache}"
CACHE_ARGS=()
mkdir -p "$CACHE_DIR" 2>/dev/null && CACHE_ARGS=(--disk_cache="$CACHE_DIR")
(cd "$ROOT" && bazel build -c opt "${CACHE_ARGS[@]}" //collector:tributaryd //tools/cli:tributary >&2)
BIN=$(cd "$ROOT" && bazel info -c opt bazel-bin 2>/dev/null)
exec "$BIN/collector/tributaryd" "$@"
