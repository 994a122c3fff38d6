# Sourced by bench-net.sh (and tests/net/run.sh): Toxiproxy (Shopify's TCP
# proxy for latency and faults between an app and its Redis), on loopback.
#   toxi_find      sets TOXI_SERVER and TOXI_CLI: from $TOXIPROXY_SERVER and
#                  $TOXIPROXY_CLI, PATH, our install directory or $HOME/go/bin
#                  (where `go install` names them `server` and `cli`), or
#                  installs $TOXIPROXY_VERSION with `go install` (Go from PATH
#                  ($GO, PATH or /usr/local/go/bin; modules from the Go module proxy).
#                  Returns 0, or TOXI_MISSING (3) with the reason on stderr
#                  and in TOXI_WHY.
#   toxi_start     toxiproxy-server on a free loopback port (TOXI_URL, TOXI_PID,
#                  log in $TOXI_LOG_DIR); toxi_stop stops it. Callers stop it
#                  on every exit path (their EXIT/INT/TERM traps call toxi_stop).
#   toxi_proxy NAME HOST:PORT   a proxy from a free loopback port (TOXI_PORT)
#   toxi_latency NAME MS [downstream|upstream]   a latency toxic "lat_DIR"
#   toxi_add NAME TOXIC TYPE DIR [key=value]...  any toxic (timeout, reset_peer,
#                  limit_data, ...); toxi_remove NAME TOXIC; toxi_delete NAME
# Toxiproxy's latency and jitter are whole milliseconds (int64 "latency" in
# toxics/latency.go) and a toxic acts on one direction: 1 ms of round trip is
# 1 ms downstream; half a millisecond each way cannot be said.
# Needs stack_free_port (tools/stack.sh) and curl. Its variables all start
# with toxi_ or TOXI (sh has no locals).
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.5.0}
TOXI_MISSING=3
TOXI_SERVER=""
TOXI_CLI=""
TOXI_PID=""
TOXI_URL=""
TOXI_WHY=""
TOXI_DIR=${TOXIPROXY_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/offload/toxiproxy-$TOXIPROXY_VERSION}

# is_toxi FILE server|cli: FILE runs and says it is toxiproxy's
is_toxi() {
  [ -x "$1" ] && timeout 10 "$1" --version 2>/dev/null | grep -q "^toxiproxy-$2 version"
}

toxi_fail() {
  TOXI_WHY=$1
  echo "toxiproxy: $1" >&2
  return "$TOXI_MISSING"
}

toxi_find() {
  for toxi_kind in server cli; do
    toxi_found=""
    if [ "$toxi_kind" = server ]; then toxi_want=${TOXIPROXY_SERVER:-}; else toxi_want=${TOXIPROXY_CLI:-}; fi
    for toxi_f in "$toxi_want" "$(command -v "toxiproxy-$toxi_kind" 2>/dev/null || true)" "$TOXI_DIR/toxiproxy-$toxi_kind" \
             "${HOME:-/root}/go/bin/toxiproxy-$toxi_kind" "${HOME:-/root}/go/bin/$toxi_kind"; do
      if [ -n "$toxi_f" ] && is_toxi "$toxi_f" "$toxi_kind"; then toxi_found=$toxi_f; break; fi
    done
    if [ -z "$toxi_found" ]; then
      toxi_install || return "$TOXI_MISSING"
      toxi_found="$TOXI_DIR/toxiproxy-$toxi_kind"
    fi
    if [ "$toxi_kind" = server ]; then TOXI_SERVER=$toxi_found; else TOXI_CLI=$toxi_found; fi
  done
}

# go install of server and cli into TOXI_DIR, renamed toxiproxy-server and
# toxiproxy-cli (go names a binary after its folder: cmd/server, cmd/cli).
toxi_install() {
  toxi_go=${GO:-$(command -v go 2>/dev/null || true)}
  [ -n "$toxi_go" ] || { [ -x /usr/local/go/bin/go ] && toxi_go=/usr/local/go/bin/go; }
  [ -n "$toxi_go" ] && [ -x "$(command -v "$toxi_go" 2>/dev/null || true)" ] ||
    toxi_fail "not found, and no Go to build it with (\$GO, PATH, /usr/local/go/bin): install Go, or put toxiproxy-server and toxiproxy-cli on PATH" || return
  echo "toxiproxy: not found; installing $TOXIPROXY_VERSION with $toxi_go install into $TOXI_DIR (once)" >&2
  mkdir -p "$TOXI_DIR/gobin" || toxi_fail "cannot create $TOXI_DIR" || return
  for toxi_k in server cli; do
    if ! GOBIN="$TOXI_DIR/gobin" GOFLAGS=-mod=mod timeout 600 "$toxi_go" install \
        "github.com/Shopify/toxiproxy/v2/cmd/$toxi_k@$TOXIPROXY_VERSION" >"$TOXI_DIR/install-$toxi_k.log" 2>&1; then
      tail -5 "$TOXI_DIR/install-$toxi_k.log" >&2
      toxi_fail "go install of github.com/Shopify/toxiproxy/v2/cmd/$toxi_k@$TOXIPROXY_VERSION failed (log: $TOXI_DIR/install-$toxi_k.log)" || return
    fi
    mv -f "$TOXI_DIR/gobin/$toxi_k" "$TOXI_DIR/toxiproxy-$toxi_k" || toxi_fail "cannot move the built $toxi_k" || return
    is_toxi "$TOXI_DIR/toxiproxy-$toxi_k" "$toxi_k" || toxi_fail "the built $TOXI_DIR/toxiproxy-$toxi_k does not run" || return
  done
  rmdir "$TOXI_DIR/gobin" 2>/dev/null || true
}

toxi_start() {
  [ -n "$TOXI_SERVER" ] || toxi_find || return
  toxi_tport=$(stack_free_port)
  TOXI_LOG_DIR=${TOXI_LOG_DIR:-${STACK_DIR:-/tmp}}
  "$TOXI_SERVER" -host 127.0.0.1 -port "$toxi_tport" >"$TOXI_LOG_DIR/toxiproxy.log" 2>&1 &
  TOXI_PID=$!
  TOXI_URL="http://127.0.0.1:$toxi_tport"
  toxi_i=0
  until curl -fsS -o /dev/null --max-time 1 "$TOXI_URL/version" 2>/dev/null; do
    sleep 0.1; toxi_i=$((toxi_i+1))
    if [ $toxi_i -ge 100 ] || ! kill -0 "$TOXI_PID" 2>/dev/null; then
      toxi_stop
      toxi_fail "toxiproxy-server did not answer within 10 s (log: $TOXI_LOG_DIR/toxiproxy.log)"
      return
    fi
  done
}

toxi_stop() {
  [ -n "$TOXI_PID" ] || return 0
  kill -TERM "$TOXI_PID" 2>/dev/null || true
  toxi_i=0; while kill -0 "$TOXI_PID" 2>/dev/null && [ $toxi_i -lt 50 ]; do sleep 0.1; toxi_i=$((toxi_i+1)); done
  kill -KILL "$TOXI_PID" 2>/dev/null || true
  wait "$TOXI_PID" 2>/dev/null || true
  TOXI_PID=""
}

# toxi_cli ARGS...: the cli against our server, bounded
toxi_cli() {
  timeout 10 "$TOXI_CLI" --host "$TOXI_URL" "$@" >/dev/null
}

toxi_proxy() { # NAME HOST:PORT
  TOXI_PORT=$(stack_free_port)
  toxi_cli create --listen "127.0.0.1:$TOXI_PORT" --upstream "$2" "$1"
}

toxi_delete() { # NAME
  toxi_cli delete "$1"
}

toxi_add() { # PROXY TOXIC TYPE downstream|upstream [key=value]...
  toxi_p=$1; toxi_n=$2; toxi_t=$3; toxi_d=$4; shift 4
  toxi_args=""
  for toxi_a in "$@"; do toxi_args="$toxi_args -a $toxi_a"; done
  # shellcheck disable=SC2086
  toxi_cli toxic add --type "$toxi_t" --toxicName "$toxi_n" "--$toxi_d" $toxi_args "$toxi_p"
}

toxi_remove() { # PROXY TOXIC
  toxi_cli toxic remove --toxicName "$2" "$1"
}

toxi_latency() { # PROXY MS [downstream|upstream]
  toxi_add "$1" "lat_${3:-downstream}" latency "${3:-downstream}" "latency=$2"
}
