#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, runs every test,
# and ends with one line "N passed, N failed" counted from Bazel's results.
# Extra arguments go to `bazel test` (e.g. --config=asan).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
NODE_MODULES=$(tools/npm_peers.sh) || { echo "npm peers failed"; echo "0 passed, 1 failed"; exit 1; }

# A disk cache outside the tree keeps fresh clones fast; absent is fine. It
# holds build outputs only: every test runs again (--nocache_test_results),
# because the end-to-end tests depend on peers outside Bazel's view.
CACHE_DIR="${TRIBUTARY_DISK_CACHE:-${HOME:-/tmp}/.cache/tributary-bazel-disk-cache}"
CACHE_ARGS=()
mkdir -p "$CACHE_DIR" 2>/dev/null && CACHE_ARGS=(--disk_cache="$CACHE_DIR")

LOG=$(mktemp)
bazel test "${CACHE_ARGS[@]}" --nocache_test_results --test_summary=short --test_env=NODE_PATH="$NODE_MODULES" "$@" //... \
  2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$LOG")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|NO STATUS|FAILED TO BUILD|INCOMPLETE)' "$LOG")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # the build itself failed, or bazel did not run tests
fi
rm -f "$LOG"
echo "$passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
