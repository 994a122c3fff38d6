#!/bin/sh
# Checks that every build and test dependency is present. As root on Debian it
# installs what is missing; otherwise it names the one command to run.
# python3 runs the integration tests' serve: coprocess (tests/fixtures/coproc.py).
# `deps.sh bench` also wants what make bench and make demo use (wrk, python3, bc).
set -eu
PKGS="build-essential pkg-config libevent-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev check redis-server curl python3"
if [ "${1:-}" = bench ]; then
  PKGS="$PKGS wrk bc"
fi
missing=""
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config"
if [ -z "$missing" ]; then
  for mod in libevent libevent_pthreads hiredis libcurl jansson check; do
    pkg-config --exists "$mod" || { missing="$mod"; break; }
  done
fi
command -v redis-server >/dev/null 2>&1 || missing="${missing:-redis-server}"
command -v cc >/dev/null 2>&1 || missing="${missing:-cc}"
command -v curl >/dev/null 2>&1 || missing="${missing:-curl}"
command -v python3 >/dev/null 2>&1 || missing="${missing:-python3}"
if [ "${1:-}" = bench ]; then
  for cmd in wrk bc; do
    command -v "$cmd" >/dev/null 2>&1 || missing="${missing:-$cmd}"
  done
fi
[ -z "$missing" ] && exit 0
echo "deps: '$missing' not found" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing $PKGS" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends $PKGS >&2
  exit 0
fi
echo "deps: run as root:  apt-get install -y $PKGS" >&2
exit 1
