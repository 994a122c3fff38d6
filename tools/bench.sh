#!/bin/sh
# make bench: performance figures, each printed beside its limit or the best
# peer. Not a test: it prints, it does not judge. Absolute numbers on a
# shared 2-core machine are noisy; read the ratios.
set -eu
cd "$(dirname "$0")/.."
. tools/stack.sh
LG="$BIN/loadgen"
CORES=$(nproc)
jget() { # json key.path — tiny extractor for loadgen --json output
  python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d if not isinstance(d,float) else round(d,3))' "$1"
}

echo "== offload bench ($CORES cores, Redis on this box, $WORKERS one-process workers)"
stack_start

echo
echo "-- queue throughput: 40 jobs of 500 ms (limit: $CORES cores / 0.5 s = $((CORES * 2)).0 jobs/s; Sidekiq 3.92)"
"$LG" jobs --api "$API_URL" -n 40 --ms 500 -c 40

# Three runs of loadgen jobs; prints each run's jobs/s and their median.
jobs3() {
  runs=""
  for i in 1 2 3; do
    r=$("$LG" jobs --api "$API_URL" --json "$@" | jget jobs_per_s)
    runs="$runs $r"
  done
  echo "$runs" | python3 -c 'import sys; v=sorted(float(x) for x in sys.stdin.read().split())
print("  jobs/s per run: %s   median %.0f" % (", ".join("%.0f" % x for x in v), v[1]))'
}

echo
echo "-- queue overhead: 20,000 jobs of 0 ms (beanstalkd 9,200/s, Sidekiq 8,400/s, BullMQ 4,200/s, Celery 1,300/s; aim >= 10,000/s)"
echo "   the queue alone (results read after the last job ended, as the peers' figures are taken):"
jobs3 -n 20000 --ms 0 -c 8 --batch 100 --poll-after
echo "   end to end (every job long-polled by loadgen meanwhile, on the same 2 cores):"
jobs3 -n 20000 --ms 0 -c 8 --batch 100

echo
echo "-- enqueue->start latency at a steady 50 jobs/s (beanstalkd p50 0.42 / p99 0.98 ms, Sidekiq 0.95 / 1.74 ms)"
"$LG" jobs --api "$API_URL" -n 500 --ms 0 -R 50

echo
echo "-- POST /jobs answered per second at 100 concurrent clients"
"$LG" -c 100 -d 5s -m POST -b '{"ms":0}' "$API_URL/jobs"

# Waits (up to 2 minutes) until the default queue is empty and nothing runs:
# the POST figure above leaves tens of thousands of 0 ms jobs behind it.
wait_drained() {
  python3 - "$API_URL" <<'PY'
import json, sys, time, urllib.request
for _ in range(1200):
    q = json.load(urllib.request.urlopen(sys.argv[1] + "/queues"))["queues"].get("default", {})
    if q.get("depth", 0) == 0 and q.get("in_progress", 0) == 0:
        break
    time.sleep(0.1)
PY
}

# /healthz latency from one connection while 40 jobs of 500 ms keep both
# workers busy.
healthz_saturated() {
  "$LG" -c 40 -n 40 -m POST -b '{"ms":500}' "$API_URL/jobs" >/dev/null
  "$LG" -c 1 -R 200 -d 5s "$API_URL/healthz"
}

echo
echo "-- /healthz p99 while both workers are saturated (aim <= 2 ms)"
wait_drained
healthz_saturated
stack_stop

echo
echo "-- the same with the workers' task threads at --task-nice 10"
WORKER_ARGS="${WORKER_ARGS:-} --task-nice 10" stack_start
healthz_saturated
stack_stop
if [ -x tools/bench-tasks.sh ]; then tools/bench-tasks.sh; fi
if [ -x tools/bench-sched.sh ]; then tools/bench-sched.sh; fi
if [ -x tools/bench-io.sh ]; then tools/bench-io.sh; fi
if [ -x tools/bench-faults.sh ]; then tools/bench-faults.sh; fi
if [ -x tools/bench-loadgen.sh ]; then tools/bench-loadgen.sh; fi
