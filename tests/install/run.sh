#!/bin/sh
# `make test-install`: `make install` and `make uninstall` into a temporary
# DESTDIR with PREFIX=/usr, as a package build would run them.
#  1. the tree is exactly what install promises, each file with its mode, and
#     no @PREFIX@ left in what was generated
#  2. the units' ExecStart binaries and the example worker's plugin paths
#     exist in the DESTDIR tree; the units keep the settings a stop and a
#     restart rely on (Restart, KillMode, TimeoutStopSec above the longest
#     default job, the env files, LimitNOFILE)
#  3. `systemd-analyze verify` accepts both units (the worker as an instance)
#     with no message at all, on a copy whose ExecStart points into the
#     DESTDIR: verify checks that the binary exists, and --root would need the
#     root to hold systemd's own targets too. A copy naming a missing binary
#     must be refused, so a verify that checks nothing fails the test.
#  4. systemd-sysusers accepts the sysusers.d entry (--dry-run, writes nothing)
#  5. uninstall leaves no file and none of offload's own directories
# Needs systemd-analyze and systemd-sysusers (Debian package systemd, which
# tools/deps.sh installs); it runs without systemd as PID 1. Without them the
# test fails, it does not skip.
# Environment (from the Makefile): MAKE, BIN, BUILD, PROGS and PLUGINS (file
# names), UNITS, EXAMPLE_ENVS.
set -eu
cd "$(dirname "$0")/../.."
: "${MAKE:=make}" "${BIN:=bin}" "${BUILD:=build}"
: "${PROGS:=api worker loadgen slowsvc}" "${PLUGINS:=hello.so}"
: "${UNITS:=offload-api.service offload-worker@.service}"
: "${EXAMPLE_ENVS:=api.env worker-default.env}"

pass=0
ok() { pass=$((pass + 1)); printf 'PASS: %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*"; exit 1; }

for cmd in systemd-analyze systemd-sysusers; do
  command -v "$cmd" >/dev/null 2>&1 ||
    die "$cmd not found: it is in the Debian package systemd (as root: apt-get install systemd, or make deps)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/offload-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
dest=$tmp/dest
prefix=/usr
unitdir=$prefix/lib/systemd/system

# 1. install, and the tree
if ! $MAKE --no-print-directory install DESTDIR="$dest" PREFIX=$prefix BIN="$BIN" BUILD="$BUILD" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  die "make install DESTDIR=$dest PREFIX=$prefix failed"
fi
: >"$tmp/expected"
for p in $PROGS; do echo "755 $prefix/bin/$p"; done >>"$tmp/expected"
for p in $PLUGINS; do echo "755 $prefix/lib/offload/$p"; done >>"$tmp/expected"
echo "644 $prefix/include/offload/plugin.h" >>"$tmp/expected"
for u in $UNITS; do echo "644 $unitdir/$u"; done >>"$tmp/expected"
echo "644 $prefix/lib/sysusers.d/offload.conf" >>"$tmp/expected"
for e in $EXAMPLE_ENVS; do echo "644 $prefix/share/offload/examples/$e"; done >>"$tmp/expected"
sort -k2 -o "$tmp/expected" "$tmp/expected"
(cd "$dest" && find . ! -type d -printf '%m /%P\n') | sort -k2 >"$tmp/actual"
if ! cmp -s "$tmp/expected" "$tmp/actual"; then
  echo "expected (mode path) vs installed:"
  diff "$tmp/expected" "$tmp/actual" || true
  die "the installed tree differs from what install promises"
fi
ok "install: $(wc -l <"$tmp/expected") files, each with its mode"
if grep -l '@PREFIX@' "$dest$unitdir"/* "$dest$prefix/share/offload/examples"/*; then
  die "@PREFIX@ left in the generated files above"
fi
ok "install: PREFIX filled into the units and the example settings"

# 2. the paths the units and the examples name, and the settings that matter
for u in $UNITS; do
  f=$dest$unitdir/$u
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$f")
  [ -n "$exe" ] || die "$u: no ExecStart"
  case $exe in "$prefix"/*) ;; *) die "$u: ExecStart=$exe is not under PREFIX $prefix" ;; esac
  [ -f "$dest$exe" ] && [ -x "$dest$exe" ] || die "$u: ExecStart=$exe is not an executable in DESTDIR"
  grep -qx 'Restart=on-failure' "$f" || die "$u: no Restart=on-failure"
  grep -qx 'KillMode=mixed' "$f" || die "$u: no KillMode=mixed"
  grep -qx 'User=offload' "$f" || die "$u: not User=offload"
  ok "$u: ExecStart=$exe exists in DESTDIR; Restart=on-failure, KillMode=mixed, User=offload"
done
api=$dest$unitdir/offload-api.service
worker=$dest$unitdir/offload-worker@.service
grep -qx 'EnvironmentFile=/etc/offload/api.env' "$api" || die "offload-api.service does not read /etc/offload/api.env"
grep -q '^LimitNOFILE=[0-9]' "$api" || die "offload-api.service sets no LimitNOFILE"
grep -qx 'EnvironmentFile=/etc/offload/worker-%i.env' "$worker" || die "offload-worker@.service does not read /etc/offload/worker-%i.env"
# The worker's longest job by default: --task-timeout 60 s + --kill-grace 2 s.
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$worker")
[ -n "$stop" ] && [ "$stop" -gt 62 ] || die "offload-worker@.service: TimeoutStopSec=${stop:-?}s is not above 60 s + 2 s"
ok "units: api.env, worker-%i.env, LimitNOFILE, worker TimeoutStopSec=${stop}s > 62 s"
n=0
for path in $(grep -ho 'plugin:/[^ '"'"'"]*' "$dest$prefix/share/offload/examples"/* | sed 's/^plugin://'); do
  [ -f "$dest$path" ] || die "an example names $path, which install did not put in DESTDIR"
  n=$((n + 1))
done
[ "$n" -gt 0 ] || die "the example worker settings name no installed plugin"
ok "examples: the $n plugin paths they name are installed"

# 3. systemd-analyze verify, on a copy pointing into DESTDIR
mkdir "$tmp/verify"
for u in $UNITS; do
  sed "s|^ExecStart=/|ExecStart=$dest/|" "$dest$unitdir/$u" >"$tmp/verify/$u"
done
if ! (cd "$tmp/verify" && systemd-analyze verify --man=no \
    "$tmp/verify/offload-api.service" "$tmp/verify/offload-worker@default.service") >"$tmp/verify.log" 2>&1 ||
   [ -s "$tmp/verify.log" ]; then
  cat "$tmp/verify.log"
  die "systemd-analyze verify did not accept the units without a word (output above)"
fi
ok "systemd-analyze verify: offload-api.service and offload-worker@default.service, no message"
mkdir "$tmp/verify-bad"
sed "s|^ExecStart=/.*|ExecStart=$dest$prefix/bin/not-installed|" "$dest$unitdir/offload-api.service" >"$tmp/verify-bad/offload-api.service"
if (cd "$tmp/verify-bad" && systemd-analyze verify --man=no "$tmp/verify-bad/offload-api.service") >"$tmp/verify-bad.log" 2>&1; then
  cat "$tmp/verify-bad.log"
  die "systemd-analyze verify accepted a unit whose binary is missing: it checks nothing here"
fi
grep -q 'not-installed' "$tmp/verify-bad.log" || { cat "$tmp/verify-bad.log"; die "systemd-analyze verify refused the bad unit for another reason"; }
ok "systemd-analyze verify: refuses a unit whose ExecStart is missing (it really checks)"

# 4. sysusers.d
if ! systemd-sysusers --dry-run --root="$dest" "$dest$prefix/lib/sysusers.d/offload.conf" >"$tmp/sysusers.log" 2>&1 ||
   ! grep -q "Creating user 'offload'" "$tmp/sysusers.log"; then
  cat "$tmp/sysusers.log"
  die "systemd-sysusers does not make the user offload from lib/sysusers.d/offload.conf"
fi
[ ! -e "$dest/etc" ] || die "systemd-sysusers --dry-run wrote into DESTDIR"
ok "systemd-sysusers --dry-run: would create user offload"

# 5. uninstall
if ! $MAKE --no-print-directory uninstall DESTDIR="$dest" PREFIX=$prefix BIN="$BIN" BUILD="$BUILD" >"$tmp/uninstall.log" 2>&1; then
  cat "$tmp/uninstall.log"
  die "make uninstall failed"
fi
left=$(cd "$dest" && find . ! -type d)
[ -z "$left" ] || die "uninstall left files: $left"
for d in include/offload lib/offload share/offload; do
  [ ! -e "$dest$prefix/$d" ] || die "uninstall left $prefix/$d"
done
ok "uninstall: no file left, no offload directory left"
echo "test-install: all $pass checks passed"
