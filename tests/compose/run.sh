#!/usr/bin/env bash
# `make test-compose`: the compose stack end to end, as a user would run it.
#  1. every image the compose file names (its defaults) is official or built
#     by the file itself (check-images.sh); base images without a registry
#     (offline-images.sh), then build the image
#  2. up with 3 workers (own project name, API on a free loopback port); the
#     API serves the experiment routes (/cpu answers, not 404)
#  3. 60 jobs of 200 ms all finish, run by at least 2 distinct workers
#  4. `docker kill` the worker that holds a 3 s job: another worker recovers
#     it after the lease and it finishes
#  5. scale workers 3 -> 1 -> 3; jobs still finish afterwards
#  6. `up --exit-code-from demo demo` (short DEMO_DURATION): the table has cpu
#     and io rows, results.json and the charts land in the out dir owned by its
#     owner; then `compose stop` stops every service gracefully (exit code 0)
#  7. `down -v` on exit, whether the steps passed or not
# Needs docker and curl; root only for the first debootstrap (offline-images.sh).
# Environment: COMPOSE ("docker compose" or "docker-compose"; found if unset),
# WORKER_LEASE (5s here), DEMO_DURATION (2s), DEMO_CONCURRENCY (4), KEEP=1 keeps the stack on failure,
# OFFLOAD_IMAGE (offload:compose-test), NO_BUILD=1 uses that image if it exists.
# shellcheck disable=SC2015  # ok() and bad() always succeed
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

pass=0 fail=0
say() { printf 'compose-test: %s\n' "$*" >&2; }
ok() { pass=$((pass + 1)); printf 'PASS: %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf 'FAIL: %s\n' "$*"; }
die() { bad "$*"; exit 1; }

# ---- tools ------------------------------------------------------------------
command -v docker >/dev/null || { echo "compose-test: docker not found" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "compose-test: the docker daemon does not answer" >&2; exit 1; }
if ! command -v curl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >&2 \
      || { apt-get update -qq >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >&2; }
  else
    echo "compose-test: curl not found" >&2; exit 1
  fi
fi
if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"
  elif command -v docker-compose >/dev/null; then COMPOSE="docker-compose"
  else echo "compose-test: neither 'docker compose' nor 'docker-compose' found" >&2; exit 1; fi
fi
# The classic builder when buildx is missing (Docker CLI >= 23 needs it for
# BuildKit); docker-compose 1.x builds through the CLI or the API alike.
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi
export COMPOSE_DOCKER_CLI_BUILD=${COMPOSE_DOCKER_CLI_BUILD:-0}

# ---- the project --------------------------------------------------------------
PROJECT="offloadtest$$$(date +%s | tail -c 5)"
OUT=$(mktemp -d /tmp/offload-compose-out.XXXXXX)
export API_PORT=0                      # an ephemeral loopback port, read back below
export OFFLOAD_IMAGE=${OFFLOAD_IMAGE:-offload:compose-test}
export WORKER_LEASE=${WORKER_LEASE:-5s}
export DEMO_DURATION=${DEMO_DURATION:-2s}
# Few clients: with 100, the CPU modes take minutes to drain their backlog.
export DEMO_CONCURRENCY=${DEMO_CONCURRENCY:-4}
export DEMO_OUT_DIR=$OUT
# The demo drops to the owner of its out dir: give it a non-root owner to see that.
OUT_UID=12345
chown "$OUT_UID:$OUT_UID" "$OUT" 2>/dev/null || OUT_UID=$(id -u)
chmod 755 "$OUT"
c() { $COMPOSE -p "$PROJECT" -f "$ROOT/docker-compose.yml" "$@"; }

teardown() {
  local rc=$?
  set +e
  if [ "$fail" -gt 0 ] || [ "$rc" != 0 ]; then
    say "logs (last 40 lines per service):"
    c logs --no-color --tail 40 >&2 2>&1
    if [ "${KEEP:-0}" = 1 ]; then say "KEEP=1: leaving project $PROJECT up"; exit 1; fi
  fi
  say "down -v"
  c down -v --remove-orphans --timeout 30 >/dev/null 2>&1
  left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
  if [ "$left" = 0 ]; then ok "down -v left no container"; else bad "$left containers of $PROJECT left after down"; fi
  rm -rf "$OUT"
  printf '%d passed, %d failed\n' "$pass" "$((fail + (rc != 0 && fail == 0 ? 1 : 0)))"
  [ "$fail" = 0 ] && [ "$rc" = 0 ] || exit 1
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- helpers ------------------------------------------------------------------
# A JSON string or number field, without jq: good for the flat objects the API
# answers (the nested `result` comes after the fields read here).
jfield() { sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\{0,1\}\([^",}]*\).*/\1/p' | head -n 1; }
api() { curl -sS --max-time "${TMO:-35}" "$@"; }
submit() { api -X POST -H 'Content-Type: application/json' -d "$1" "$BASE/jobs" | jfield id; }
job() { api "$BASE/jobs/$1${2:-}"; }
# Waits (long polls) until job $1 is terminal or $2 seconds passed; prints the job.
wait_job() {
  local id=$1 until=$((SECONDS + $2)) body='' st=''
  while [ "$SECONDS" -lt "$until" ]; do
    body=$(job "$id" "?wait=5") || true
    st=$(printf '%s' "$body" | jfield state)
    case $st in done|failed|dead|cancelled) break ;; esac
    sleep 0.2
  done
  printf '%s\n' "$body"
}
running_workers() {
  docker ps -q --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=worker" | wc -l | tr -d ' '
}

# ---- 1. images ------------------------------------------------------------------
say "$COMPOSE, project $PROJECT"
c config -q || die "docker-compose.yml does not validate"
ok "compose file validates ($COMPOSE)"
# The file's own defaults, whatever this shell sets: a newcomer's first `up`
# pulls them (or offline-images.sh has built them under the same names).
if (unset REDIS_IMAGE BASE_IMAGE; COMPOSE=$COMPOSE "$ROOT/tests/compose/check-images.sh"); then
  ok "every image docker-compose.yml names is official or built by it"
else
  bad "docker-compose.yml names an image that is neither official nor built by it (above)"
fi
"$ROOT/tests/compose/offline-images.sh"
t0=$SECONDS
if [ "${NO_BUILD:-0}" = 1 ] && docker image inspect "$OFFLOAD_IMAGE" >/dev/null 2>&1; then
  say "NO_BUILD=1: using the existing $OFFLOAD_IMAGE"
else
  c build >"$OUT/.build.log" 2>&1 || { tail -n 40 "$OUT/.build.log"; die "image build failed"; }
  rm -f "$OUT/.build.log"
  ok "image $OFFLOAD_IMAGE built in $((SECONDS - t0)) s"
fi
docker run --rm --entrypoint id "$OFFLOAD_IMAGE" -u | grep -qv '^0$' && ok "image runs as a non-root user" \
  || bad "image runs as root"

# ---- 2. up with 3 workers ---------------------------------------------------------
t0=$(date +%s.%N)
c up -d --scale worker=3 redis api worker slowsvc >/dev/null 2>&1 || die "up failed"
upped=$(date +%s.%N)
port=$(c port api 8080 | sed -n 's/.*:\([0-9]*\)$/\1/p')
[ -n "$port" ] || die "no published port for api"
BASE="http://127.0.0.1:$port"
first=''
for _ in $(seq 1 600); do
  if [ -z "$first" ] && curl -fsS --max-time 2 "$BASE/healthz" >/dev/null 2>&1; then first=$(date +%s.%N); fi
  curl -fsS --max-time 2 "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS --max-time 2 "$BASE/readyz" >/dev/null 2>&1 || die "api not ready within 60 s"
ready=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
ok "stack up: 'up -d' returned after $(secs "$upped" "$t0") s; then /healthz answered at $(secs "${first:-$ready}" "$t0") s, /readyz 200 at $(secs "$ready" "$t0") s (port $port)"
n=$(running_workers)
[ "$n" = 3 ] && ok "3 worker containers running" || bad "$n worker containers running, want 3"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/cpu?mode=inline&ms=1" || true)
[ "$code" = 200 ] && ok "experiment routes on: GET /cpu answers 200" \
  || bad "GET /cpu answers ${code:-nothing}, want 200 (the api service needs API_EXPERIMENTS=1)"

# ---- 3. 60 jobs ---------------------------------------------------------------------
ids=()
for i in $(seq 1 60); do
  id=$(submit '{"ms":200}') || true
  [ -n "$id" ] || die "POST /jobs #$i returned no id"
  ids+=("$id")
done
ok "60 jobs accepted"
done_n=0 workers=''
for id in "${ids[@]}"; do
  body=$(wait_job "$id" 60)
  st=$(printf '%s' "$body" | jfield state)
  if [ "$st" = "done" ]; then
    done_n=$((done_n + 1))
    workers="$workers$(printf '%s' "$body" | jfield worker)"$'\n'
  else
    say "job $id: state '$st': $body"
  fi
done
[ "$done_n" = 60 ] && ok "60/60 jobs done" || bad "$done_n/60 jobs done"
distinct=$(printf '%s' "$workers" | sed '/^$/d' | sort -u | wc -l | tr -d ' ')
[ "$distinct" -ge 2 ] && ok "$distinct distinct workers ran them" || bad "only $distinct distinct worker(s) ran the 60 jobs"

# ---- 4. kill the worker holding a job --------------------------------------------------
long=$(submit '{"ms":3000}')
[ -n "$long" ] || die "POST /jobs (ms=3000) returned no id"
holder='' st=''
for _ in $(seq 1 100); do
  body=$(job "$long")
  st=$(printf '%s' "$body" | jfield state)
  if [ "$st" = running ]; then holder=$(printf '%s' "$body" | jfield worker); break; fi
  sleep 0.05
done
[ -n "$holder" ] || die "job $long never seen running (state '$st')"
victim=''
for cid in $(c ps -q worker); do
  h=$(docker inspect -f '{{.Config.Hostname}}' "$cid")
  case $holder in "$h"*) victim=$cid; break ;; esac
done
[ -n "$victim" ] || die "no worker container whose hostname begins worker id '$holder'"
[ "${victim:0:12}" = "$(docker inspect -f '{{.Config.Hostname}}' "$victim")" ] \
  && ok "worker id '$holder' begins with its container's hostname, the container id prefix ${victim:0:12}" \
  || ok "worker id '$holder' begins with its container's hostname (not the id prefix)"
docker kill "$victim" >/dev/null
t0=$SECONDS
body=$(wait_job "$long" 90)
st=$(printf '%s' "$body" | jfield state)
w2=$(printf '%s' "$body" | jfield worker)
att=$(printf '%s' "$body" | jfield attempts)
if [ "$st" = "done" ] && [ "$w2" != "$holder" ]; then
  ok "job held by the killed worker finished on $w2 after $((SECONDS - t0)) s (attempts ${att:-?}, lease $WORKER_LEASE)"
else
  bad "job held by the killed worker: state '$st', worker '$w2' (killed '$holder'): $body"
fi

# ---- 5. scale 3 -> 1 -> 3 --------------------------------------------------------------
t0=$SECONDS
c up -d --scale worker=1 --no-recreate worker >/dev/null 2>&1 || bad "scale to 1 failed"
n=$(running_workers)
[ "$n" = 1 ] && ok "scaled to 1 worker in $((SECONDS - t0)) s" || bad "$n workers running after scaling to 1"
c up -d --scale worker=3 --no-recreate worker >/dev/null 2>&1 || bad "scale to 3 failed"
n=$(running_workers)
[ "$n" = 3 ] && ok "scaled back to 3 workers" || bad "$n workers running after scaling to 3"
ids=()
for _ in $(seq 1 6); do ids+=("$(submit '{"ms":200}' || true)"); done
done_n=0
for id in "${ids[@]}"; do
  [ "$(wait_job "$id" 60 | jfield state)" = "done" ] && done_n=$((done_n + 1))
done
[ "$done_n" = 6 ] && ok "6/6 jobs done after scaling" || bad "$done_n/6 jobs done after scaling"

# ---- 6. demo, then everything stops gracefully ----------------------------------------
before=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT")
t0=$SECONDS
set +e
c up --no-color --scale worker=3 --exit-code-from demo demo >"$OUT/.demo.log" 2>&1
rc=$?
set -e
demo_log=$(sed -n 's/^[^|]*demo[^|]*| \{0,1\}//p' "$OUT/.demo.log")
[ "$rc" = 0 ] && ok "demo exited 0 after $((SECONDS - t0)) s" || { bad "demo exited $rc"; tail -n 40 "$OUT/.demo.log"; }
printf '%s\n' "$demo_log" | grep -E '^[[:space:]]*\|' | head -n 20 || true
printf '%s\n' "$demo_log" | grep -Eq '^[[:space:]]*\|[[:space:]]*cpu[[:space:]]*\|' \
  && ok "demo table has cpu rows" || bad "demo table has no cpu row"
printf '%s\n' "$demo_log" | grep -Eq '^[[:space:]]*\|[[:space:]]*io[[:space:]]*\|' \
  && ok "demo table has io rows" || bad "demo table has no io row"
printf '%s\n' "$demo_log" | awk -F'|' '$3 ~ /queue, task hash_password/ && $5 + 0 > 0 {f = 1} END {exit !f}' \
  && ok "demo table has the Python task row, with jobs done" || bad "demo table has no Python task row with jobs done"
for f in results.json cpu.svg io.svg; do
  if [ -s "$OUT/$f" ]; then
    owner=$(stat -c %u "$OUT/$f")
    [ "$owner" = "$OUT_UID" ] && ok "demo wrote $f, owned by uid $owner like its dir" \
      || bad "demo wrote $f owned by uid $owner, its dir by $OUT_UID"
  else
    bad "demo did not write $f"
  fi
done
# `docker compose stop`: SIGTERM, and each binary must exit 0 well within the
# grace period (v1's --exit-code-from already stopped them; v2's stops only demo).
t0=$SECONDS
c stop -t 60 >/dev/null 2>&1 || bad "compose stop failed"
ok "compose stop took $((SECONDS - t0)) s"
for cid in $before; do
  name=$(docker inspect -f '{{.Name}}' "$cid" | tr -d /)
  st=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid")
  case $name in *redis*) continue ;; esac
  [ "$st" = "exited 0" ] && ok "$name stopped gracefully (exit 0)" || bad "$name after stop: $st"
done
rm -f "$OUT/.demo.log"
[ "$fail" = 0 ]
