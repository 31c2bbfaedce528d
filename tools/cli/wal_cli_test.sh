#!/usr/bin/env bash
# `tributary wal verify|repair` as an operator runs them: on a real buffer, a
# damaged copy of it, and the repaired result.
set -euo pipefail
CLI=tools/cli/tributary
CHILD=tests/crash/buffer_crash_child
DIR="$TEST_TMPDIR/buf"

fail() { echo "FAIL: $*" >&2; exit 1; }

# Make a buffer with entries: the crash child appends until its budget is spent.
"$CHILD" --dir="$DIR" --threads=2 --max_appends=40 --payload_bytes=20000 > "$TEST_TMPDIR/child.out"
grep -c '^A ' "$TEST_TMPDIR/child.out" | grep -qx 40 || fail "child did not append 40 batches"

out=$("$CLI" wal verify "$DIR") || fail "verify of a healthy buffer exited $?: $out"
grep -q "OK: no damage found" <<<"$out" || fail "verify did not say OK: $out"
grep -q "entries:   40" <<<"$out" || fail "verify did not count 40 entries: $out"

# Damage the middle of the write-ahead log.
wal=$(ls -S "$DIR"/*.log | head -1)
size=$(stat -c %s "$wal")
printf 'GARBAGEGARBAGE' | dd of="$wal" bs=1 seek=$((size / 2)) conv=notrunc status=none

set +e
out=$("$CLI" wal verify "$DIR"); rc=$?
set -e
[ "$rc" = 1 ] || fail "verify of a damaged buffer exited $rc, want 1: $out"
grep -q "DAMAGED" <<<"$out" || fail "verify did not report damage: $out"

out=$("$CLI" wal repair "$DIR") || fail "repair exited $?: $out"
kept=$(sed -n 's/^kept \([0-9]*\) entries.*/\1/p' <<<"$out")
# Everything before the damage survives at least (RocksDB may also replay past it).
[ -n "$kept" ] && [ "$kept" -ge 10 ] && [ "$kept" -lt 40 ] || fail "repair kept '$kept' entries: $out"
ls -d "$DIR".damaged-* > /dev/null || fail "the damaged files were not kept"

out=$("$CLI" wal verify "$DIR") || fail "verify after repair exited $?: $out"
grep -q "entries:   $kept " <<<"$out" || fail "repaired buffer does not hold $kept entries: $out"

set +e
"$CLI" wal verify "$TEST_TMPDIR/nowhere" 2> "$TEST_TMPDIR/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "verify of a missing directory exited $rc, want 2"
grep -q "not a directory" "$TEST_TMPDIR/err" || fail "no clear error for a missing directory"
echo PASS
