#!/bin/sh
# Checks that every build and test dependency is present. As root on Debian it
# installs what is missing; otherwise it names the one command to run.
# python3 runs the integration tests' serve: coprocess (tests/fixtures/coproc.py).
# redis-sentinel runs the failover test's three sentinels (tests/integration/test_sentinel.c);
# like prometheus, only its binary is wanted: the service it starts is stopped and disabled.
# systemd brings systemd-analyze and systemd-sysusers, which make test-install
# runs on the installed units (systemd need not be PID 1).
# prometheus brings promtool, which lints /metrics (tests/integration/test_metrics_lint.c);
# its own server is stopped and disabled right after it is installed.
# `deps.sh bench` also wants what make bench and make demo use (wrk, python3, bc).
# `deps.sh ui` also wants what make test-ui drives: Chromium, its driver and
# Selenium for Debian's own python3 (/usr/bin/python3, whatever python3 is first on PATH).
set -eu
PKGS="build-essential pkg-config libevent-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev check redis-server redis-sentinel curl python3 prometheus systemd"
if [ "${1:-}" = bench ]; then
  PKGS="$PKGS wrk bc"
fi
if [ "${1:-}" = ui ]; then
  PKGS="$PKGS chromium chromium-driver python3-selenium"
fi
missing=""
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config"
if [ -z "$missing" ]; then
  for mod in libevent libevent_pthreads hiredis libcurl jansson check; do
    pkg-config --exists "$mod" || { missing="$mod"; break; }
  done
fi
command -v redis-server >/dev/null 2>&1 || missing="${missing:-redis-server}"
had_sentinel=yes
command -v redis-sentinel >/dev/null 2>&1 || { had_sentinel=no; missing="${missing:-redis-sentinel}"; }
command -v cc >/dev/null 2>&1 || missing="${missing:-cc}"
command -v curl >/dev/null 2>&1 || missing="${missing:-curl}"
command -v python3 >/dev/null 2>&1 || missing="${missing:-python3}"
for cmd in systemd-analyze systemd-sysusers; do
  command -v "$cmd" >/dev/null 2>&1 || missing="${missing:-$cmd}"
done
had_promtool=yes
command -v promtool >/dev/null 2>&1 || { had_promtool=no; missing="${missing:-promtool}"; }
if [ "${1:-}" = bench ]; then
  for cmd in wrk bc; do
    command -v "$cmd" >/dev/null 2>&1 || missing="${missing:-$cmd}"
  done
fi
if [ "${1:-}" = ui ]; then
  for cmd in chromium chromedriver; do
    command -v "$cmd" >/dev/null 2>&1 || missing="${missing:-$cmd}"
  done
  /usr/bin/python3 -c 'import selenium' >/dev/null 2>&1 || missing="${missing:-python3-selenium}"
fi
[ -z "$missing" ] && exit 0
echo "deps: '$missing' not found" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing $PKGS" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends $PKGS >&2
  # only promtool and redis-sentinel's binary are wanted: the packages'
  # postinst enable (and where they may, start) a Prometheus server on :9090
  # and a sentinel on :26379. A service that was there before is left alone.
  service_off() {
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$1" >&2 || true
    else
      service "$1" stop >/dev/null 2>&1 || true
      update-rc.d "$1" disable >/dev/null 2>&1 || true
      systemctl disable "$1" >/dev/null 2>&1 || true
    fi
  }
  [ "$had_promtool" = yes ] || service_off prometheus
  [ "$had_sentinel" = yes ] || service_off redis-sentinel
  exit 0
fi
echo "deps: run as root:  apt-get install -y $PKGS" >&2
exit 1
