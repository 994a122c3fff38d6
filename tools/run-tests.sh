#!/bin/sh
# Runs each test program given, prints a summary line per program, fails if any failed.
# A failed program's failing checks are printed again at the very end, so the
# last lines of a long CI log say which check failed and where.
# Usage: run-tests.sh BINDIR prog...
set -u
bindir=$1; shift
export OFFLOAD_BIN="$(cd "$bindir" && pwd)"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/offload-tests.XXXXXX") || exit 1
trap 'rm -rf "$logdir"' EXIT
failed=""
n=0
for t in "$@"; do
  n=$((n + 1))
  echo "== $t"
  log="$logdir/$n.log"
  # the program's output goes to the terminal as it runs, and to a log
  { CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-300} "$t" 2>&1; echo "rc=$?" > "$log.rc"; } | tee "$log"
  rc=$(sed 's/^rc=//' "$log.rc")
  if [ "$rc" != 0 ]; then
    failed="$failed $t"
    { echo "-- $t exited $rc; its failed checks:"
      grep -E ':[FE]:|Assertion|timeout|Timeout|ERROR|Sanitizer' "$log" | tail -20; } >> "$logdir/failures"
  fi
done
if [ -n "$failed" ]; then
  cat "$logdir/failures"
  echo "FAILED:$failed"
  exit 1
fi
echo "all $# test programs passed"
