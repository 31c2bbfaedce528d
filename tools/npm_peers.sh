#!/usr/bin/env bash
# Installs the npm packages the end-to-end tests talk to (tests/e2e/js: the
# OpenTelemetry JS SDK, grpc-js with proto-loader, grpc-reflection-js) into a
# cache directory outside the tree, keyed by the lockfile, and prints its
# node_modules path.
# Idempotent: an installed set is reused without touching the network.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=tests/e2e/js
KEY=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-16)
DIR="${TRIBUTARY_NPM_CACHE:-${HOME:-/tmp}/.cache/tributary-npm}/$KEY"
if [ ! -f "$DIR/.installed" ]; then
  mkdir -p "$DIR"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/.npmrc" "$DIR/"
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$DIR/.installed"
fi
echo "$DIR/node_modules"
