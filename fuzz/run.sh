#!/bin/sh
# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS.
# `make fuzz` calls this; it can also run alone from the repository root:
#   FUZZ_SECONDS=60 FUZZ_TARGETS="url job" fuzz/run.sh
# Working corpus: $BUILD/fuzz-corpus/<target> (libFuzzer adds new inputs
# there; the committed seeds in fuzz/corpus/<target> and the saved crashes in
# fuzz/regress/<target> are read, never written). Crash, leak, timeout and OOM
# inputs go to fuzz/crashes/<target>/. Prints the executions per target and
# fails if any target found one.
set -u
seconds=${FUZZ_SECONDS:-300}
targets=${FUZZ_TARGETS:-"job url config route cron"}
cc=${FUZZ_CC:-clang}
bin=${BIN:-bin}
build=${BUILD:-build}
pkg_config=${PKG_CONFIG:-pkg-config}

# Sources are compiled here, with the fuzzer's coverage instrumentation: the
# gcc-built libraries under build/ have none. UB aborts (no recovery), so
# libFuzzer saves the input.
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=c11 \
-D_GNU_SOURCE -Wall -Wextra -Werror -DFUZZ_MAIN -I. $($pkg_config --cflags jansson)"

sources() {
  case $1 in
    job) echo common/job.c common/config.c common/errmsg.c ;;
    url) echo common/url.c common/errmsg.c ;;
    config) echo common/config.c common/errmsg.c ;;
    route) echo api/route.c ;;
    cron) echo common/cron.c common/errmsg.c ;;
    *) echo "fuzz/run.sh: unknown target $1" >&2; return 1 ;;
  esac
}

libs() {
  case $1 in
    job) echo "$($pkg_config --libs jansson) -lm" ;;
    config) echo -lm ;;
  esac
}

# Files in a directory, dotfiles aside.
count() {
  find "$1" -mindepth 1 -maxdepth 1 -type f ! -name '.*' | wc -l
}

mkdir -p "$bin/fuzz" "$build/fuzz-logs"
for t in $targets; do
  src=$(sources "$t") || exit 2
  echo "fuzz: build $bin/fuzz/fuzz_$t"
  # shellcheck disable=SC2086,SC2046 # word splitting of the flag, source and library lists is intended
  $cc $cflags -o "$bin/fuzz/fuzz_$t" "fuzz/fuzz_$t.c" $src $(libs "$t") || exit 2
done

failed=""
summary=""
for t in $targets; do
  corpus="$build/fuzz-corpus/$t"
  crashes="fuzz/crashes/$t"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$crashes"
  seeds="fuzz/corpus/$t"
  [ -d "fuzz/regress/$t" ] && seeds="$seeds fuzz/regress/$t"
  before=$(count "$crashes")
  echo "fuzz: run fuzz_$t for ${seconds}s (log $log)"
  start=$(date +%s)
  # -close_fd_mask=1: --help output from the config target would flood the log.
  # shellcheck disable=SC2086 # $seeds is a list of directories
  "$bin/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -close_fd_mask=1 \
    -artifact_prefix="$crashes/" "$corpus" $seeds >"$log" 2>&1
  rc=$?
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  found=$(($(count "$crashes") - before))
  line="fuzz_$t: ${execs:-?} executions in ${elapsed}s, working corpus $(count "$corpus") inputs"
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    line="$line, FAILED (exit $rc, $found new file(s) in $crashes/)"
    failed="$failed $t"
    grep -m 1 -E '^==[0-9]+==ERROR|runtime error|check failed|^SUMMARY' "$log" || tail -n 20 "$log"
  fi
  echo "$line"
  summary="$summary$line
"
done
printf '\n%s' "$summary"
if [ -n "$failed" ]; then
  echo "fuzz: crashes in:$failed (inputs under fuzz/crashes/; logs under $build/fuzz-logs/)"
  exit 1
fi
