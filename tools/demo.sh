#!/bin/sh
# make demo: the whole stack as local processes, the seed's experiment run
# against it, the table printed, everything stopped afterwards.
set -eu
cd "$(dirname "$0")/.."
. tools/stack.sh
OUT=${OUT:-out}
DURATION=${DEMO_DURATION:-10s}
stack_start
echo "offload demo: api $API_URL, redis $REDIS_URL, $WORKERS workers (logs: $STACK_DIR)"
mkdir -p "$OUT"
"$BIN/loadgen" suite --api "$API_URL" --out "$OUT" --duration "$DURATION"
echo
echo "charts: $OUT/cpu.svg $OUT/io.svg   data: $OUT/results.json"
