#!/bin/sh
# Runs each test program given, prints a summary line per program, fails if any failed.
# Usage: run-tests.sh BINDIR prog...
set -u
bindir=$1; shift
export OFFLOAD_BIN="$(cd "$bindir" && pwd)"
failed=""
for t in "$@"; do
  echo "== $t"
  if ! CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-300} "$t"; then failed="$failed $t"; fi
done
if [ -n "$failed" ]; then echo "FAILED:$failed"; exit 1; fi
echo "all $# test programs passed"
