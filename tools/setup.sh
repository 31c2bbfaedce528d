#!/usr/bin/env bash
# Installs everything the build and the tests need on Debian 12. Idempotent:
# packages already present are skipped without touching the network.
set -euo pipefail

PACKAGES=(
  # Build: Bazel (offline, Debian's bootstrap build) and its Java rules.
  bazel-bootstrap bazel-rules-java
  # Libraries.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev libsnappy-dev liblz4-dev libre2-dev libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev
  zlib1g-dev
  # Benchmark baseline: spdlog's async logger (client_bench).
  libspdlog-dev
  # Test peers: Prometheus (and promtool) and VictoriaMetrics receive what
  # the exporters send; curl talks to the HTTP endpoints;
  # python3 reads JSON in the end-to-end scripts.
  prometheus victoria-metrics curl python3
  # Toolchain.
  g++ git
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm run the npm test peers (tools/npm_peers.sh). A node that is
# already installed (from any source) is used as it is.
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
