#!/bin/sh
# loadgen against wrk: one thread each, the same trivial local server
# (slowsvc --delay-ms 0 answers inline), 50 and 200 connections. The two
# alternate ROUNDS times and the best of each is kept, because a shared
# machine's noise is larger than the difference. Prints, does not judge.
# Env: BIN (bin), DURATION (5s), ROUNDS (3), CONNS ("50 200").
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50 200}

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench-loadgen: wrk not installed (apt-get install wrk); skipped" >&2
  exit 0
fi

log=$(mktemp)
svc=
cleanup() {
  if [ -n "$svc" ]; then kill "$svc" 2>/dev/null || true; wait "$svc" 2>/dev/null || true; fi
  rm -f "$log"
}
trap cleanup EXIT INT TERM

"$BIN/slowsvc" --listen 127.0.0.1:0 --delay-ms 0 2>"$log" &
svc=$!
port=
for _ in $(seq 50); do
  port=$(sed -n 's/.*msg=listening .*port=\([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "bench-loadgen: slowsvc did not start" >&2; cat "$log" >&2; exit 1; }
url="http://127.0.0.1:$port/"

best() { # keeps the larger of two decimal numbers
  awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'
}

echo "-- loadgen vs wrk, 1 thread each, slowsvc --delay-ms 0, $DURATION x $ROUNDS rounds (best kept)"
for c in $CONNS; do
  w=0 l=0
  for _ in $(seq "$ROUNDS"); do
    wr=$(wrk -t1 -c"$c" -d"$DURATION" "$url" | awk '/^Requests\/sec:/ { print $2 }')
    lr=$("$BIN/loadgen" --threads 1 -c "$c" -d "$DURATION" --json "$url" | sed -n 's/.*"rps":\([0-9.]*\).*/\1/p')
    w=$(best "$w" "${wr:-0}")
    l=$(best "$l" "${lr:-0}")
  done
  awk -v c="$c" -v w="$w" -v l="$l" 'BEGIN {
    printf "%4d conns   wrk %10.0f req/s   loadgen %10.0f req/s   loadgen/wrk %5.1f %%\n", c, w, l, (w > 0 ? 100 * l / w : 0) }'
done
