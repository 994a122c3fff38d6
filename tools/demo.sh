#!/bin/sh
# make demo: the whole stack as local processes, the seed's experiment run
# against it, the table printed, everything stopped afterwards.
set -eu
cd "$(dirname "$0")/.."
. tools/stack.sh
OUT=${OUT:-out}
DURATION=${DEMO_DURATION:-10s}
# Beside burn, the workers serve the Python example (the demo's task row).
WORKER_TASKS="hash_password=serve:python3 $(pwd)/examples/python/tasks.py"
export WORKER_TASKS PYTHONDONTWRITEBYTECODE=1
stack_start
echo "offload demo: api $API_URL, redis $REDIS_URL, $WORKERS workers (logs: $STACK_DIR)"
mkdir -p "$OUT"
"$BIN/loadgen" suite --api "$API_URL" --out "$OUT" --duration "$DURATION" \
  --task hash_password --task-args '{"password":"correct horse battery staple"}'
echo
echo "charts: $OUT/cpu.svg $OUT/io.svg   data: $OUT/results.json"
