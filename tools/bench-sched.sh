#!/bin/sh
# make bench, delayed jobs: how late after its run_at a delayed job reaches
# its queue (2,000 jobs due over 10 s, moved by the movers of the API and
# 2 workers), and what 100,000 jobs due in an hour cost while none is due
# (CPU of Redis, the API and the workers over 10 s, beside the same stack
# with nothing scheduled; Redis memory per job). One stack with its own
# Redis (or REDIS_URL's, flushed at the end), stopped on every exit path.
# Prints; does not judge.
# Env: BIN (bin), N (2000), IDLE_JOBS (100000), IDLE_S (10).
set -eu
cd "$(dirname "$0")/.."
. tools/stack.sh
N=${N:-2000}
IDLE_JOBS=${IDLE_JOBS:-100000}
IDLE_S=${IDLE_S:-10}
HZ=$(getconf CLK_TCK)
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

# every Redis command here gets 10 s: a stuck Redis ends the section, not the bench
rcli() { timeout 10 redis-cli -u "$REDIS_URL" "$@"; }

stack_start
# the jobs go with the stack's Redis; one the caller gave (REDIS_URL) is flushed
sched_stop() {
  if [ -n "${REDIS_URL:-}" ]; then rcli flushdb >/dev/null 2>&1 || true; fi
  stack_stop
}
trap 'sched_stop' EXIT
trap 'sched_stop; exit 130' INT TERM

echo
echo "-- delayed jobs: $(commas "$N") no-op jobs with run_at spread over 10 s from 2 s ahead, $WORKERS workers (aim p99 <= 10 ms from run_at to the queue)"
python3 - "$API_URL" "$REDIS_URL" "$N" <<'PY'
import http.client, json, random, subprocess, sys, time, urllib.parse
api, redis, n = urllib.parse.urlparse(sys.argv[1]), sys.argv[2], int(sys.argv[3])
LEAD, WINDOW, GRACE = 2.0, 10.0, 30.0
# one job's run_at, promoted_at and started_at (Unix µs, '-' when unset) per id
READ = """local out = {}
for i = 2, #ARGV do
  local f = redis.call('HMGET', ARGV[1] .. ARGV[i], 'run_at', 'promoted_at', 'started_at')
  out[#out + 1] = (f[1] or '-') .. ' ' .. (f[2] or '-') .. ' ' .. (f[3] or '-')
end
return out"""

t0 = time.time()
start = t0 + LEAD
run_at = [start + random.uniform(0, WINDOW) for _ in range(n)]
c = http.client.HTTPConnection(api.hostname, api.port, timeout=10)
ids = []
for b in range(0, n, 1000):
    body = json.dumps([{"ms": 0, "run_at": round(t, 6)} for t in run_at[b:b + 1000]])
    c.request("POST", "/jobs", body, {"Content-Type": "application/json"})
    r = c.getresponse(); text = r.read()
    if r.status != 202:
        sys.exit("bench-sched: POST /jobs answered %d: %s" % (r.status, text[:200]))
    ids += json.loads(text)["ids"]
submitted = time.time() - t0
if submitted > LEAD:
    print("   (the submit took %.2f s: the first jobs were due before it ended)" % submitted)

def read():
    out = subprocess.run(["redis-cli", "-u", redis, "eval", READ, "0", "offload:job:"] + ids,
                         capture_output=True, text=True, timeout=10).stdout.split("\n")
    return [tuple(None if x == "-" else int(x) for x in l.split()) for l in out if l.strip()]

# bounded: the window, then GRACE s for stragglers; polled every second, then twice
deadline = start + WINDOW + GRACE
rows = []
while True:
    rows = read()
    if len(rows) == n and all(r[1] is not None and r[2] is not None for r in rows):
        break
    if time.time() > deadline:
        break
    time.sleep(0.5 if time.time() > start + WINDOW else 1.0)

late = sorted((r[1] - r[0]) / 1000.0 for r in rows if r[1] is not None)
wait = sorted((r[2] - r[0]) / 1000.0 for r in rows if r[1] is not None and r[2] is not None)
def pct(v, p):
    return v[max(0, -(-len(v) * p // 100) - 1)] if v else float("nan")
early = sum(1 for x in late if x < 0)
print("   run_at -> on its queue (promoted_at): p50 %.2f ms  p99 %.2f ms  max %.2f ms   aim p99 <= 10 ms"
      % (pct(late, 50), pct(late, 99), late[-1] if late else float("nan")))
print("   promoted before their run_at: %d (should be 0)   later than 10 ms: %d of %d"
      % (early, sum(1 for x in late if x > 10), len(late)))
print("   run_at -> started by a worker (started_at): p50 %.2f ms  p99 %.2f ms  max %.2f ms   for context"
      % (pct(wait, 50), pct(wait, 99), wait[-1] if wait else float("nan")))
# a promote step stamps every job it moves with one promoted_at: group by it
# to tell one late wake-up (many jobs, one step) from scattered lateness
steps = {}
for r in rows:
    if r[1] is not None:
        steps.setdefault(r[1], []).append(r[0])
late_steps = sorted(((p - min(v)) / 1000.0, len(v)) for p, v in steps.items() if p - min(v) > 10000)
print("   moved in %d promote steps (at most %d jobs in one); the jobs later than 10 ms came from %d of them%s"
      % (len(steps), max((len(v) for v in steps.values()), default=0), len(late_steps),
         ", the worst %.1f ms after its first job's run_at, with %d jobs" % late_steps[-1] if late_steps else ""))
if len(late) < n or len(wait) < n:
    print("   NOT ALL: %d of %d promoted, %d started within %.0f s of the window's end"
          % (len(late), n, len(wait), GRACE))
PY

# "utime stime" clock ticks summed over pids; "? ?" when one is not on this box
ticks() {
  for p in "$@"; do
    # the name field may hold spaces: the fields after its ')' count from 3
    if [ -n "$p" ] && [ -r "/proc/$p/stat" ]; then sed 's/.*) //' "/proc/$p/stat" | awk '{print $12, $13}'; else echo "? ?"; fi
  done | awk '$1 == "?" {bad = 1} {u += $1; s += $2} END {print bad ? "? ?" : u " " s}'
}
rpid=$(rcli info server | tr -d '\r' | sed -n 's/^process_id://p')
used_memory() { rcli info memory | tr -d '\r' | sed -n 's/^used_memory://p'; }
# Ticks of Redis, the API and the workers before and after IDLE_S s, then
# the Redis commands run meanwhile (less the first INFO): one line of 13 numbers
cpu_window() {
  b_r=$(ticks "$rpid"); b_a=$(ticks "$API_PID"); b_w=$(ticks $WORKER_PIDS)
  c0=$(rcli info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p')
  sleep "$IDLE_S"
  a_r=$(ticks "$rpid"); a_a=$(ticks "$API_PID"); a_w=$(ticks $WORKER_PIDS)
  c1=$(rcli info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p')
  echo "$b_r $a_r $b_a $a_a $b_w $a_w $((c1 - c0 - 1))"
}

echo
echo "-- $(commas "$IDLE_JOBS") jobs with delay 1h, none due: CPU over $IDLE_S s (aim: nothing measurable beyond the stack with nothing scheduled)"
idle=$(cpu_window)
mem0=$(used_memory)
python3 - "$API_URL" "$IDLE_JOBS" <<'PY'
import http.client, json, sys, urllib.parse
api, n = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection(api.hostname, api.port, timeout=10)
for b in range(0, n, 1000):
    body = json.dumps([{"ms": 0, "delay": "1h"}] * min(1000, n - b))
    c.request("POST", "/jobs", body, {"Content-Type": "application/json"})
    r = c.getresponse(); text = r.read()
    if r.status != 202:
        sys.exit("bench-sched: POST /jobs answered %d: %s" % (r.status, text[:200]))
PY
mem1=$(used_memory)
sched=$(rcli zcard offload:scheduled)
sleep 1 # the submit's last answers and the movers' one wake-up are over
busy=$(cpu_window)
python3 - "$HZ" "$IDLE_S" "$idle" "$busy" "$mem0" "$mem1" "$IDLE_JOBS" "$sched" "$WORKERS" <<'PY'
import sys
hz, secs = int(sys.argv[1]), float(sys.argv[2])
idle, busy = sys.argv[3].split(), sys.argv[4].split()
mem0, mem1, n, sched, workers = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8], sys.argv[9]
def parts(v): # per process: (ticks or None); then Redis commands
    out = []
    for i in range(3):
        b, a = v[4 * i:4 * i + 2], v[4 * i + 2:4 * i + 4]
        out.append(None if "?" in b + a else (int(a[0]) + int(a[1])) - (int(b[0]) + int(b[1])))
    return out, int(v[12])
def pc(t):
    return "?" if t is None else "%.2f %%" % (100.0 * t / hz / secs)
(ir, ia, iw), icmd = parts(idle)
(br, ba, bw), bcmd = parts(busy)
tot = lambda *t: None if None in t else sum(t)
print("   %-14s %-18s %-18s  %% of one core (ticks of 1/%d s)" % ("", "nothing scheduled", "{:,} scheduled".format(n), hz))
for name, i, b in (("redis-server", ir, br), ("api", ia, ba), ("%s workers" % workers, iw, bw),
                   ("total", tot(ir, ia, iw), tot(br, ba, bw))):
    print("   %-14s %-18s %s" % (name, pc(i) + " (%s)" % ("?" if i is None else i), pc(b) + " (%s)" % ("?" if b is None else b)))
print("   resolution: 1 tick in %.0f s = %.2f %%; Redis commands in the window: %d idle, %d with the jobs"
      % (secs, 100.0 / hz / secs, icmd, bcmd))
if None not in (ir, ia, iw, br, ba, bw):
    d = tot(br, ba, bw) - tot(ir, ia, iw)
    print("   the {:,} scheduled jobs cost {:+d} ticks ({:+.2f} % of one core)   aim: within 1 tick of nothing scheduled"
          .format(n, d, 100.0 * d / hz / secs))
print("   Redis used_memory %.1f -> %.1f MB: %.0f bytes per scheduled job (%s in offload:scheduled)"
      % (mem0 / 1e6, mem1 / 1e6, (mem1 - mem0) / n, sched))
PY
