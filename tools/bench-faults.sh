#!/bin/bash
# Fault figures: how fast a kill -9'd worker's job runs again (20 trials),
# and whether the API's memory stays flat over a million requests.
# Env: BIN (bin), TRIALS (20), REQUESTS (1000000).
set -eu
cd "$(dirname "$0")/.."
. tools/stack.sh
TRIALS=${TRIALS:-20}
REQUESTS=${REQUESTS:-1000000}
WORKERS=0
stack_start
jf() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1]) if d.get(sys.argv[1]) is not None else "")' "$1"; }

echo
echo "-- recovery after kill -9: from the kill to the job back on its queue ($TRIALS trials; aim < 2 s)"
"$BIN/worker" --id survivor 2>>"$STACK_DIR/workers.log" &
STACK_PIDS="$STACK_PIDS $!"; disown $! # no "Killed" notices for the workers we kill
sleep 3 # the reaper trusts CLIENT LIST once Redis has been up a few seconds
times=""
for t in $(seq 1 "$TRIALS"); do
  "$BIN/worker" --id "victim-$t" 2>>"$STACK_DIR/workers.log" &
  victim=$!; disown "$victim"
  sleep 1.2
  # two long jobs: one for each worker; we watch the victim's
  curl -s -o /dev/null -X POST -d '[{"ms":60000},{"ms":60000}]' "$API_URL/jobs"
  id=""
  for _ in $(seq 1 100); do
    id=$(redis-cli -u "$REDIS_URL" lindex "offload:wip:victim-$t" 0)
    [ -n "$id" ] && [ "$(curl -s "$API_URL/jobs/$id" | jf state)" = running ] && break
    sleep 0.02
  done
  # one process kills and polls over one kept-alive connection every 5 ms:
  # the measurement itself adds no process start-up to the figure
  took=$(python3 - "$victim" "$API_URL" "$id" <<'PY'
import http.client, json, os, signal, sys, time, urllib.parse
victim, api, job = int(sys.argv[1]), urllib.parse.urlparse(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection(api.hostname, api.port, timeout=5)
t0 = time.monotonic()
os.kill(victim, signal.SIGKILL)
while time.monotonic() - t0 < 5:
    c.request("GET", "/jobs/" + job)
    if json.loads(c.getresponse().read()).get("state") == "queued":
        print("%.3f" % (time.monotonic() - t0))
        break
    time.sleep(0.005)
PY
)
  if [ -n "$took" ]; then times="$times $took"; else echo "  trial $t: job $id was not requeued" >&2; fi
  redis-cli -u "$REDIS_URL" flushdb >/dev/null # the survivor's long job goes away with it
  pkill -KILL -f -- "--id survivor" || true
  "$BIN/worker" --id survivor 2>>"$STACK_DIR/workers.log" &
  STACK_PIDS="$STACK_PIDS $!"; disown $!
  sleep 0.5
done
python3 - $times <<'PY'
import statistics, sys
v = sorted(float(x) for x in sys.argv[1:])
if v:
    print(f"  trials {len(v)}  median {statistics.median(v)*1000:.0f} ms  max {max(v)*1000:.0f} ms  min {min(v)*1000:.0f} ms  (limit 2000 ms)")
else:
    print("  no trial completed")
PY

echo
echo "-- API memory over $REQUESTS requests (aim: RSS flat within 10 %)"
rss() { awk '/VmRSS/ {print $2}' "/proc/$API_PID/status"; }
"$BIN/loadgen" -c 50 -n 20000 "$API_URL/healthz" >/dev/null
before=$(rss)
half=$((REQUESTS / 2))
"$BIN/loadgen" -c 50 -n "$half" "$API_URL/healthz" | grep -E "req/s|codes"
"$BIN/loadgen" -c 50 -n "$half" "$API_URL/jobs/0123456789abcdef0123456789abcdef" | grep -E "req/s|codes"
after=$(rss)
echo "  RSS before ${before} kB, after ${after} kB ($(echo "scale=1; 100 * ($after - $before) / $before" | bc -l) %)"
