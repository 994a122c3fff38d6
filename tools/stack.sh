# Sourced by demo.sh and bench.sh: starts a local offload stack as processes
# and stops everything it started on exit (success, failure or Ctrl-C).
# Inputs: BIN (bin), WORKERS (2), API_ARGS, WORKER_ARGS, SLOW_DELAY_MS (500).
# Outputs: API_URL, REDIS_URL, STACK_DIR (logs), WORKER_PIDS.
# Workers inherit WORKER_TASKS (one --task NAME=KIND:SPEC per line).
BIN=${BIN:-bin}
WORKERS=${WORKERS:-2}
SLOW_DELAY_MS=${SLOW_DELAY_MS:-500}
STACK_PIDS=""
STACK_DIR=$(mktemp -d /tmp/offload-stack.XXXXXX)

stack_free_port() {
  # a port nothing listens on, from the kernel's ephemeral range
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null && return
  while :; do
    p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000 ))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

stack_wait_http() { # url timeout_s
  i=0
  while [ $i -lt $(( $2 * 10 )) ]; do
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.1; i=$((i+1))
  done
  echo "stack: $1 did not answer within $2 s (logs in $STACK_DIR)" >&2
  return 1
}

stack_stop() {
  for p in $STACK_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $STACK_PIDS; do
    i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
    kill -KILL "$p" 2>/dev/null || true
  done
  STACK_PIDS=""
  if [ "${STACK_OWN_REDIS:-0}" = 1 ]; then unset REDIS_URL; STACK_OWN_REDIS=0; fi
}

stack_start() {
  trap 'stack_stop' EXIT
  trap 'stack_stop; exit 130' INT TERM
  if [ -z "${REDIS_URL:-}" ]; then
    rport=$(stack_free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$STACK_DIR" --logfile "$STACK_DIR/redis.log" &
    STACK_PIDS="$STACK_PIDS $!"
    REDIS_URL="redis://127.0.0.1:$rport"
    STACK_OWN_REDIS=1
    i=0; until redis-cli -p "$rport" ping >/dev/null 2>&1; do
      sleep 0.1; i=$((i+1)); [ $i -lt 100 ] || { echo "stack: redis did not start" >&2; return 1; }
    done
  fi
  export REDIS_URL
  sport=$(stack_free_port)
  "$BIN/slowsvc" --listen "127.0.0.1:$sport" --delay-ms "$SLOW_DELAY_MS" 2>"$STACK_DIR/slowsvc.log" &
  STACK_PIDS="$STACK_PIDS $!"
  aport=$(stack_free_port)
  # shellcheck disable=SC2086
  "$BIN/api" --experiments --listen "127.0.0.1:$aport" --upstream "http://127.0.0.1:$sport/" ${API_ARGS:-} 2>"$STACK_DIR/api.log" &
  STACK_PIDS="$STACK_PIDS $!"
  API_PID=$!
  WORKER_PIDS=""
  for i in $(seq 1 "$WORKERS"); do
    # shellcheck disable=SC2086
    "$BIN/worker" ${WORKER_ARGS:-} 2>"$STACK_DIR/worker$i.log" &
    STACK_PIDS="$STACK_PIDS $!"
    WORKER_PIDS="$WORKER_PIDS $!"
  done
  API_URL="http://127.0.0.1:$aport"
  stack_wait_http "$API_URL/readyz" 10
}
