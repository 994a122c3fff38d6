#!/bin/sh
# make bench-net: the queue's figures with a network's round trip between
# Redis and everyone else (the API and 2 one-process workers reach Redis
# through a delaying proxy; loadgen talks to the API on loopback), beside
# loopback: 20,000 no-op jobs/s, 40 jobs of 500 ms (wall clock) and
# enqueue->start p50/p99 at a steady 50 jobs/s, each with the workers'
# --prefetch 1 (one job per round trip) and --prefetch $PREFETCH (the
# default, 16); a worker without the flag runs the first column only.
# Networks: loopback; 1 ms through Toxiproxy (a 1 ms latency toxic
# downstream: its latency is whole milliseconds, one direction per toxic);
# 1 ms and 0.2 ms through bin/netdelay (holds in µs, each way, set so that a
# PING's round trip adds the target to loopback's; 1 ms through both proxies
# checks one against the other). The round trip each network really gave is
# measured (1,000 PINGs on one connection) and printed. A fresh Redis for
# each cell (network and prefetch); everything on loopback, every run
# bounded in time, everything stopped on every exit path. Prints; does not
# judge: read the ratios within one run.
# Env: BIN (bin), PREFETCH (16), RUNS (3: no-op runs per cell, the median
# printed), NETS ("loopback toxi1 nd1 nd02": the networks, in order).
# Exits 3 (after the other rows) when Toxiproxy cannot be had.
set -eu
cd "$(dirname "$0")/.."
. tools/stack.sh
. tools/toxiproxy.sh
LG="$BIN/loadgen"
PREFETCH=${PREFETCH:-16}
RUNS=${RUNS:-3}
NETS=${NETS:-loopback toxi1 nd1 nd02}
WORKERS=2
NET_DIR=$STACK_DIR         # each cell's logs in a folder of its own under it
RES="$NET_DIR/results"     # net|figure|column|value, one a line
NETS_TXT="$NET_DIR/nets"   # net|name|how|p50_us|p99_us|base_p50_us
: >"$RES"; : >"$NETS_TXT"
T0=$(date +%s)
rc=0

# Every process of a cell (Redis, the proxy, the stack) is in STACK_PIDS:
# stack_stop ends them all, and stack.sh's traps call it on every exit path.
trap 'stack_stop' EXIT
trap 'stack_stop; exit 130' INT TERM

redis_up() { # a fresh Redis on RPORT
  RPORT=$(stack_free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$STACK_DIR" --logfile "$STACK_DIR/redis.log" &
  STACK_PIDS="$STACK_PIDS $!"
  i=0; until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do
    sleep 0.1; i=$((i+1)); [ $i -lt 100 ] || { echo "bench-net: redis did not start" >&2; return 1; }
  done
}

# PORT → "p50 p99" in µs of 1,000 PINGs on one connection (50 before them unmeasured)
rtt() {
  timeout 60 python3 - "$1" <<'PY' || echo "0 0"
import socket, sys, time
n = 1000
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
v = []
for i in range(n + n // 20):
    t = time.perf_counter_ns()
    s.sendall(b"PING\r\n")
    b = b""
    while not b.endswith(b"\r\n"):
        c = s.recv(64)
        if not c:
            sys.exit(1)
        b += c
    if i >= n // 20:
        v.append((time.perf_counter_ns() - t) // 1000)
v.sort()
print(v[len(v) // 2], v[len(v) * 99 // 100])
PY
}

nd_start() { # HOLD_US: netdelay in front of our Redis on ND_PORT
  ND_PORT=$(stack_free_port)
  "$BIN/netdelay" --listen "127.0.0.1:$ND_PORT" --upstream "127.0.0.1:$RPORT" --delay-us "$1" \
    2>>"$STACK_DIR/netdelay.log" &
  ND_PID=$!
  STACK_PIDS="$STACK_PIDS $ND_PID"
  i=0; until redis-cli -p "$ND_PORT" ping >/dev/null 2>&1; do
    sleep 0.1; i=$((i+1)); [ $i -lt 50 ] || { echo "bench-net: netdelay did not start" >&2; return 1; }
  done
}

# PID → its utime + stime in clock ticks (0: none)
HZ=$(getconf CLK_TCK)
ticks() {
  if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; else echo 0; fi
}

# NET: a fresh Redis and NET's proxy in front of it (Toxiproxy's server is
# handed to stack_stop too); REDIS_URL and PORT are where clients go.
net_up() {
  redis_up || return 1
  PROXY_PID=""
  case $1 in
  loopback) PORT=$RPORT ;;
  toxi1)
    TOXI_LOG_DIR=$STACK_DIR toxi_start || return 1
    PROXY_PID=$TOXI_PID
    STACK_PIDS="$STACK_PIDS $TOXI_PID"; TOXI_PID=""
    toxi_proxy redis "127.0.0.1:$RPORT" && toxi_latency redis 1 downstream || return 1
    PORT=$TOXI_PORT ;;
  nd1 | nd02) nd_start "$ND_HOLD" || return 1; PORT=$ND_PORT; PROXY_PID=$ND_PID ;;
  esac
  REDIS_URL="redis://127.0.0.1:$PORT"
}

# TARGET_US NET: the hold (each way) with which netdelay's PING round trip
# adds TARGET_US to loopback's: each hold also costs two timer wake-ups, so
# the hold is corrected from a measurement, up to twice. Sets ND_HOLD, NET_RTT.
nd_calibrated() {
  ND_HOLD=$(( $1 / 2 ))
  for round in 1 2 3; do
    net_up "$2" || return 1
    NET_RTT=$(rtt "$PORT")
    stack_stop
    miss=$(( ${NET_RTT%% *} - BASE_P50 - $1 ))
    if [ "$round" = 3 ] || [ $(( miss < 0 ? -miss : miss )) -le $(( $1 / 20 )) ]; then return 0; fi
    ND_HOLD=$(( ND_HOLD - miss / 2 ))
    [ "$ND_HOLD" -ge 0 ] || ND_HOLD=0
  done
}

# loadgen jobs ARGS… (bounded; in the background and waited for, so that a
# signal stops it with the rest at once) → LINE: "jobs_per_s done jobs
# start_p50_ms start_p99_ms", or "? 0 0 ? ?"
jobs_run() {
  timeout 200 "$LG" jobs --api "$API_URL" --json "$@" >"$STACK_DIR/loadgen.json" 2>>"$STACK_DIR/loadgen.log" &
  lgpid=$!
  STACK_PIDS="$STACK_PIDS $lgpid"
  wait "$lgpid" || true
  STACK_PIDS=$(echo " $STACK_PIDS " | sed "s/ $lgpid / /")
  LINE=$(python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["enqueue_to_start_ms"]
print(d["jobs_per_s"], d["states"].get("done", 0), d["jobs"], s["p50"], s["p99"])' <"$STACK_DIR/loadgen.json" 2>/dev/null) ||
    LINE="? 0 0 ? ?"
}
# Both workers registered in Redis (through the proxy), within 10 s
workers_up() {
  i=0
  until [ "$(timeout 5 redis-cli -p "$RPORT" zcard offload:workers 2>/dev/null)" = "$WORKERS" ]; do
    sleep 0.1; i=$((i+1))
    if [ $i -ge 100 ]; then
      echo "bench-net: $WORKERS workers did not register within 10 s; their logs:" >&2
      tail -n 3 "$STACK_DIR"/worker*.log >&2
      return 1
    fi
  done
}
median() { echo "$@" | python3 -c 'import sys; v = sys.stdin.read().split()
try: v = sorted(v, key=float)
except ValueError: pass
print(v[len(v) // 2])'; }
not_all() { [ "$2" = "$3" ] || echo " (only $2 of $3 done)"; }
put() { echo "$1|$2|$3|$4" >>"$RES"; }

HAS_PREFETCH=0
if "$BIN/worker" --help 2>/dev/null | grep -q -- --prefetch; then HAS_PREFETCH=1; fi
COLS="1 $PREFETCH"

# NET: the three figures with prefetch 1 and PREFETCH on the current REDIS_URL
figures() {
  for col in $COLS; do
    if [ "$col" != 1 ] && [ "$HAS_PREFETCH" = 0 ]; then
      for f in noop slow start; do put "$1" "$f" "$col" "n/a (worker has no --prefetch)"; done
      continue
    fi
    args="--task-clock wall"
    [ "$HAS_PREFETCH" = 0 ] || args="$args --prefetch $col"
    echo "   $1, prefetch $col:" >&2
    STACK_DIR="$NET_DIR/$1-prefetch$col"; mkdir -p "$STACK_DIR"
    net_up "$1" || exit 1
    WORKER_ARGS="$args" stack_start || exit 1
    workers_up || exit 1
    all=""; line=""
    c0=$(ticks "$PROXY_PID"); t0=$(date +%s.%N)
    for r in $(seq 1 "$RUNS"); do
      jobs_run -n 20000 --ms 0 -c 8 --batch 100 --poll-after -t 150s
      line=$LINE
      all="$all $(echo "$line" | awk '{ if ($1 == "?") print "?"; else printf "%.0f\n", $1 }')"
    done
    # shellcheck disable=SC2086
    v="$(median $all)$(not_all $line)"; put "$1" noop "$col" "$v"; echo "     20,000 no-op jobs: $all jobs/s" >&2
    [ -z "$PROXY_PID" ] || put "$1" pcpu "$col" "$(python3 -c 'import sys; c0, c1, t0, t1, hz = map(float, sys.argv[1:])
print("%.0f" % (100 * (c1 - c0) / hz / (t1 - t0)))' "$c0" "$(ticks "$PROXY_PID")" "$t0" "$(date +%s.%N)" "$HZ")"
    jobs_run -n 40 --ms 500 -c 40 -t 60s
    line=$LINE
    # shellcheck disable=SC2086
    v="$(echo "$line" | awk '{ if ($1 == "?") print "?"; else printf "%.2f\n", $1 }')$(not_all $line)"
    put "$1" slow "$col" "$v"; echo "     40 jobs of 500 ms: $v jobs/s" >&2
    jobs_run -n 500 --ms 0 -R 50 -t 60s
    line=$LINE
    # shellcheck disable=SC2086
    v="$(echo "$line" | awk '{ if ($4 == "?") print "?"; else printf "%.2f / %.2f ms\n", $4, $5 }')$(not_all $line)"
    put "$1" start "$col" "$v"; echo "     enqueue->start at 50 jobs/s: $v" >&2
    stack_stop
  done
}

echo "== offload bench-net ($(nproc) cores, $WORKERS one-process workers; Redis behind a delaying proxy for the API and the workers)"
[ "$HAS_PREFETCH" = 1 ] || echo "   (this worker has no --prefetch: the prefetch $PREFETCH column is n/a)"
net_up loopback
BASE=$(rtt "$PORT")
BASE_P50=${BASE%% *}
stack_stop
case " $NETS " in
*" toxi1 "*) if ! toxi_find; then NETS=$(echo " $NETS " | sed 's/ toxi1 / /'); rc=$TOXI_MISSING; fi ;;
esac
for net in $NETS; do
  STACK_DIR="$NET_DIR/$net-rtt"; mkdir -p "$STACK_DIR"
  case $net in
  loopback)
    echo "$net|loopback|Redis direct|$BASE|0" >>"$NETS_TXT"
    echo "-- loopback" >&2 ;;
  toxi1)
    echo "-- 1 ms through Toxiproxy" >&2
    net_up toxi1 || exit 1
    echo "$net|1 ms|Toxiproxy $TOXIPROXY_VERSION, latency toxic 1 ms downstream|$(rtt "$PORT")|$BASE_P50" >>"$NETS_TXT"
    stack_stop ;;
  nd1 | nd02)
    if [ "$net" = nd1 ]; then target=1000; name="1 ms"; else target=200; name="0.2 ms"; fi
    echo "-- $name through netdelay" >&2
    nd_calibrated "$target" "$net" || exit 1
    echo "$net|$name|netdelay, $ND_HOLD µs each way|$NET_RTT|$BASE_P50" >>"$NETS_TXT" ;;
  *) echo "bench-net: unknown network $net (loopback toxi1 nd1 nd02)" >&2; exit 2 ;;
  esac
  figures "$net"
done
[ "$rc" = 0 ] || echo "toxi1|1 ms|no Toxiproxy: $TOXI_WHY|0 0|0" >>"$NETS_TXT"

python3 - "$NETS_TXT" "$RES" "$PREFETCH" "$WORKERS" "$(( $(date +%s) - T0 ))" <<'PY'
import sys
nets_txt, res_txt, k, workers, took = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
nets, res = [], {}
for l in open(nets_txt):
    key, name, how, rtt, base = l.rstrip("\n").split("|")
    p50, p99 = (int(x) for x in rtt.split())
    nets.append((key, name, how, p50, p99, int(base)))
for l in open(res_txt):
    net, fig, col, v = l.rstrip("\n").split("|", 3)
    res[net, fig, col] = v
def ms(us):
    return "%.3f" % (us / 1000.0)
def commas(v):
    try:
        return "{:,}".format(int(v.split()[0])) + v[len(v.split()[0]):]
    except ValueError:
        return v
print()
print("| network | how | PING round trip p50 / p99 (p50 added to loopback's) | the proxy's CPU during the no-op runs, prefetch 1 |")
print("|---|---|---|---|")
for key, name, how, p50, p99, base in nets:
    pc = res.get((key, "pcpu", "1"))
    loaded = "%s %% of one core" % pc if pc else "—"
    if p50 == 0:
        print("| %s | %s | not measured | — |" % (name, how))
    elif key == "loopback":
        print("| %s | %s | %s / %s ms | %s |" % (name, how, ms(p50), ms(p99), loaded))
    else:
        print("| %s | %s | %s / %s ms (+%s) | %s |" % (name, how, ms(p50), ms(p99), ms(p50 - base), loaded))
print()
print("| figure | network | prefetch 1 | prefetch %s | limit / aim |" % k)
print("|---|---|---|---|---|")
def num(v):
    try:
        return float(v.split()[0].replace(",", ""))
    except (ValueError, IndexError):
        return 0.0
lo = num(res.get(("loopback", "noop", "1"), ""))
figs = [("noop", "20,000 no-op jobs, 2 workers (jobs/s)"),
        ("slow", "40 jobs of 500 ms, wall clock (jobs/s)"),
        ("start", "enqueue→start at 50 jobs/s, p50 / p99")]
for fig, title in figs:
    first = True
    for key, name, how, p50, p99, base in nets:
        label = "%s (%s)" % (name, how.split(",")[0].split(" ")[0]) if key != "loopback" else name
        a, b = res.get((key, fig, "1"), "—"), res.get((key, fig, k), "—")
        if fig == "noop":
            a, b = commas(a), commas(b)
            if key == "loopback":
                lim = "the 2 cores are the bound"
            elif p50:
                added = (p50 - base) / 1e6
                lim = "one round trip a job: ≤ {:,.0f}/s ({} / RTT)".format(workers / added, workers)
                if lo:  # each job's loopback time, then the round trip
                    lim += ", {:,.0f}/s with loopback's time a job".format(workers / (added + workers / lo))
                if name == "1 ms":
                    lim += "; aim ≥ 10,000 with prefetch"
            else:
                lim = ""
        elif fig == "slow":
            lim = "limit %.1f (%d workers / 0.5 s)" % (workers / 0.5, workers)
        else:
            lim = "aim p50 ≤ 0.4 ms" if key == "loopback" else "floor ≈ loopback's + 1 RTT (%s ms)" % ms(p50 - base if p50 else 0)
        print("| %s | %s | %s | %s | %s |" % (title if first else "", label, a, b, lim))
        first = False
print()
print("(bench-net took %s s; absolute numbers on a shared 2-core machine are noisy: compare within one run)" % took)
PY
echo "(logs: $NET_DIR)"
exit $rc
