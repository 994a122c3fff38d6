#!/bin/bash
# The seed's experiment, configuration by configuration: every /io and /cpu
# mode at the seed's thread counts and clocks, each beside its theoretical
# limit. The API is restarted for each --threads / --task-clock setting.
# Env: BIN (bin), DURATION (10s per row), QUICK=1 (skips the 5,000-client row).
set -eu
cd "$(dirname "$0")/.."
. tools/stack.sh
DURATION=${DURATION:-10s}
CORES=$(nproc)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

row() { # label conc limit mode (experiment/mode for loadgen suite --only)
  local label=$1 conc=$2 limit=$3 mode=$4 out
  out=$(mktemp -d)
  # the suite's estimator counts every request its window started over the
  # time to the last answer: no closed-loop rounding at 500 ms latencies
  "$BIN/loadgen" suite --api "$API_URL" --out "$out" --only "$mode" -c "$conc" -d "$DURATION" >/dev/null 2>&1 || true
  python3 - "$label" "$conc" "$limit" "$out/results.json" <<'PY'
import json, sys
label, conc, limit, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
try:
    d = json.load(open(path))[0]
except Exception:
    d = {}
rps = d.get("rps", 0.0); p99 = d.get("p99_ms", 0.0); hz = d.get("healthz_p99_ms", 0.0); errs = d.get("errors", 0)
print(f"| {label:<36} | {conc:>5} | {rps:>9.1f} | {limit:>8.1f} | {100*rps/limit if limit else 0:>5.1f}% | {p99:>9.1f} | {hz:>10.1f} | {errs:>6} |")
PY
  rm -rf "$out"
}

header() {
  echo
  echo "$1"
  echo "| mode                                 | conc  |     req/s |    limit |  eff.  |  p99 ms   | /healthz p99 | errors |"
  echo "|--------------------------------------|-------|-----------|----------|--------|-----------|------------|--------|"
}

restart() { stack_stop; API_ARGS="$*" stack_start; }

echo "== /io and /cpu, each beside its limit ($CORES cores, upstream delay 500 ms)"
WORKERS=2
API_ARGS="--threads 4" stack_start
header "-- IO-bound: proxy to a 500 ms upstream (limit = concurrency or threads / 0.5 s)"
row "io async (libcurl multi on the loop)" 100 200 io/async
row "io async" 1000 2000 io/async
[ "${QUICK:-0}" = 1 ] || row "io async" 5000 10000 io/async
row "io blocking (1 thread, the loop)" 100 2 io/blocking
row "io thread, 4 threads" 100 8 io/thread
restart --threads 20
row "io thread, 20 threads" 100 40 io/thread

header "-- CPU-bound: 500 ms tasks (cpu clock: limit = min(threads, cores) / 0.5 s; wall clock: threads / 0.5 s)"
row "cpu inline (on the loop)" 100 2 cpu/inline
restart --threads 4
row "cpu thread, 4 threads, cpu clock" 100 "$(( (CORES < 4 ? CORES : 4) * 2 ))" cpu/thread
restart --threads 20
row "cpu thread, 20 threads, cpu clock" 100 "$(( CORES * 2 ))" cpu/thread
restart --threads 4 --task-clock wall
row "cpu thread, 4 threads, wall clock" 100 8 cpu/thread
restart --threads 20 --task-clock wall
row "cpu thread, 20 threads, wall clock" 100 40 cpu/thread
restart
row "cpu queue, 2 workers" 100 "$(( (CORES < 2 ? CORES : 2) * 2 ))" cpu/queue
