#!/bin/sh
# make test-net: the network between the workers and Redis, broken on purpose.
#  1. bin/netdelay (make bench-net's proxy): 1 MiB of random bytes, written
#     in pieces while the echo comes back, returns whole and in order through
#     a 2 ms hold each way; one small round trip takes at least the two holds
#     (and less than 50 ms); a server that answers and hangs up: the answer
#     arrives, then the end of the stream
#  2. Toxiproxy between 2 workers and Redis (the API goes straight to Redis,
#     so every submit is acknowledged): while 3,000 jobs of 1 ms run, the
#     workers' connections are reset (reset_peer), then go silent past the
#     workers' --redis-timeout (timeout), then are cut after a few bytes
#     (limit_data); once the toxics are gone every acknowledged job ends
#     done, nothing is left in a queue or a worker's wip list, and both
#     workers are still running.
#     Skipped, and said so, when Toxiproxy cannot be had (tools/toxiproxy.sh).
# Everything on loopback, bounded in time, stopped on every exit path.
# Prints PASS/FAIL lines and "N passed, N failed"; exits 1 on a failure.
set -eu
cd "$(dirname "$0")/../.."
. tools/stack.sh
. tools/toxiproxy.sh
pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # DESCRIPTION COMMAND...
  d=$1; shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}
summary() {
  if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
}
# everything this test starts is in STACK_PIDS: stack_stop ends it all
trap 'stack_stop' EXIT
trap 'stack_stop; exit 130' INT TERM

# ---- 1. netdelay ---------------------------------------------------------------
ECHO_PORT=$(stack_free_port)
BYE_PORT=$(stack_free_port)
timeout 60 python3 - "$ECHO_PORT" "$BYE_PORT" <<'PY' 2>"$STACK_DIR/echo.log" &
import socket, sys, threading
def serve(port, handler):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port)); l.listen(8)
    def loop():
        while True:
            c, _ = l.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
def echo(c):
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()
def bye(c):
    c.sendall(b"bye\n")
    c.close()
serve(int(sys.argv[1]), echo)
serve(int(sys.argv[2]), bye)
threading.Event().wait(60)
PY
STACK_PIDS="$STACK_PIDS $!"
nd() { # UPSTREAM_PORT → ND_PORT
  ND_PORT=$(stack_free_port)
  "$BIN/netdelay" --listen "127.0.0.1:$ND_PORT" --upstream "127.0.0.1:$1" --delay-us 2000 2>>"$STACK_DIR/netdelay.log" &
  STACK_PIDS="$STACK_PIDS $!"
}
nd "$ECHO_PORT"; ECHO_ND=$ND_PORT
nd "$BYE_PORT"; BYE_ND=$ND_PORT
# the checks connect with retries while the servers come up
netdelay_check() { # WHAT → exit status
  timeout 30 python3 - "$1" "$ECHO_ND" "$BYE_ND" <<'PY'
import os, socket, sys, threading, time
what, echo_port, bye_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def conn(port):
    for _ in range(50):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            time.sleep(0.1)
    sys.exit("cannot connect to %d" % port)
if what == "order":
    data = os.urandom(1 << 20)
    s = conn(echo_port)
    def send():
        for i in range(0, len(data), 4096 + 17):  # pieces of odd sizes, pipelined
            s.sendall(data[i:i + 4096 + 17])
    t = threading.Thread(target=send); t.start()
    got = bytearray()
    while len(got) < len(data):
        b = s.recv(65536)
        if not b:
            break
        got += b
    t.join()
    sys.exit(0 if bytes(got) == data else "%d bytes back, %s" % (len(got), "equal prefix" if data.startswith(bytes(got)) else "differ"))
if what == "delay":
    s = conn(echo_port)
    s.sendall(b"x"); s.recv(1)  # the connection is up
    best = 1e9
    for _ in range(5):
        t = time.monotonic(); s.sendall(b"x"); s.recv(1); best = min(best, time.monotonic() - t)
    print("   best round trip of 5: %.2f ms (holds: 2 x 2 ms)" % (best * 1e3))
    sys.exit(0 if 0.004 <= best < 0.050 else "round trip %.2f ms" % (best * 1e3))
if what == "close":
    s = conn(bye_port)
    got = b""
    while True:
        b = s.recv(64)
        if not b:
            break
        got += b
    sys.exit(0 if got == b"bye\n" else "got %r" % got)
PY
}
check "netdelay: 1 MiB pipelined in odd pieces comes back whole and in order" netdelay_check order
check "netdelay: a round trip takes the two 2 ms holds, and not 50 ms" netdelay_check delay
check "netdelay: a server's answer and then its hang-up both reach the client" netdelay_check close
stack_stop

# ---- 2. Toxiproxy faults between the workers and Redis ---------------------
if ! toxi_find; then
  echo "SKIP: Toxiproxy faults: $TOXI_WHY"
  skip=$((skip + 1))
  summary
  [ "$fail" = 0 ]
  exit
fi
N=${N:-3000}
RPORT=$(stack_free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$STACK_DIR" --logfile "$STACK_DIR/redis.log" &
STACK_PIDS="$STACK_PIDS $!"
i=0; until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do
  sleep 0.1; i=$((i+1)); [ $i -lt 100 ] || { bad "redis did not start"; summary; exit 1; }
done
TOXI_LOG_DIR=$STACK_DIR toxi_start || { bad "toxiproxy-server did not start"; summary; exit 1; }
STACK_PIDS="$STACK_PIDS $TOXI_PID"; TOXI_PID=""
toxi_proxy redis "127.0.0.1:$RPORT"
# the workers through the proxy (REDIS_URL), the API straight to Redis (--redis wins)
REDIS_URL="redis://127.0.0.1:$TOXI_PORT"
API_ARGS="--redis redis://127.0.0.1:$RPORT" WORKER_ARGS="--redis-timeout 1s" stack_start
i=0; until [ "$(redis-cli -p "$RPORT" zcard offload:workers)" = 2 ]; do
  sleep 0.1; i=$((i+1)); [ $i -lt 100 ] || { bad "2 workers did not register through the proxy"; summary; exit 1; }
done

"$BIN/loadgen" jobs --api "$API_URL" -n "$N" --ms 1 -c 8 --batch 50 --poll-after -t 120s --json \
  >"$STACK_DIR/loadgen.json" 2>"$STACK_DIR/loadgen.log" &
LGPID=$!
STACK_PIDS="$STACK_PIDS $LGPID"
done_count() { redis-cli -p "$RPORT" eval "local n = 0 for _, k in ipairs(redis.call('KEYS', 'offload:job:*')) do if redis.call('HGET', k, 'state') == 'done' then n = n + 1 end end return n" 0; }
fault() { # TOXIC TYPE SECONDS key=value...
  n=$1; t=$2; secs=$3; shift 3
  before=$(done_count)
  toxi_add redis "$n" "$t" downstream "$@"
  sleep "$secs"
  toxi_remove redis "$n"
  echo "   $t for $secs s: $before jobs done before it, $(done_count) after"
}
sleep 0.5
fault rp reset_peer 1 timeout=0
sleep 0.5
fault silent timeout 3 timeout=0
sleep 0.5
fault cut limit_data 2 bytes=2000
# the burst ends (bounded by loadgen's -t and this loop)
i=0; while kill -0 "$LGPID" 2>/dev/null && [ $i -lt 1300 ]; do sleep 0.1; i=$((i+1)); done
wait "$LGPID" || true
result=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["submitted"], d["states"].get("done", 0), json.dumps(d["states"], separators=(",", ":")))' \
  <"$STACK_DIR/loadgen.json" 2>/dev/null || echo "0 0 {}")
set -- $result
echo "   loadgen: $1 acknowledged, $2 done, states $3"
check "Toxiproxy: all $N jobs acknowledged by the API" [ "$1" = "$N" ]
check "Toxiproxy: every acknowledged job ends done after reset_peer, timeout and limit_data" [ "$2" = "$1" ]
check "Toxiproxy: Redis agrees: $N jobs in state done" [ "$(done_count)" = "$N" ]
runs=$(redis-cli -p "$RPORT" eval "local n = 0 for _, k in ipairs(redis.call('KEYS', 'offload:job:*')) do if redis.call('HGET', k, 'state') == 'done' and tonumber(redis.call('HGET', k, 'attempts') or '1') > 1 then n = n + 1 end end return n" 0)
echo "   jobs that took more than one attempt: $runs"
left=$(redis-cli -p "$RPORT" eval "local n = 0 for _, k in ipairs(redis.call('KEYS', 'offload:q:*')) do n = n + redis.call('LLEN', k) end for _, k in ipairs(redis.call('KEYS', 'offload:wip:*')) do n = n + redis.call('LLEN', k) end return n" 0)
check "Toxiproxy: nothing left in a queue or a wip list" [ "$left" = 0 ]
check "Toxiproxy: both workers still alive" sh -c "for p in $WORKER_PIDS; do kill -0 \$p || exit 1; done"
stack_stop
summary
[ "$fail" = 0 ]
