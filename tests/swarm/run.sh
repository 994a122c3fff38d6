#!/usr/bin/env bash
# `make test-swarm`: docker-compose.yml as a Docker Swarm stack, with
# deploy/swarm/docker-stack.override.yml, on this one machine.
#  1. base images without a registry (tests/compose/offline-images.sh), the
#     offload image (docker build: stack deploy ignores build:)
#  2. a single-node swarm: `docker swarm init` if none is active (and `leave`
#     again on every way out); an active one is used and left as it is
#  3. `docker stack deploy` under a unique stack name, the API on a free
#     loopback port (18080 up); /readyz; the services have the override's
#     replicas, limits, update and restart policies
#  4. JOBS/2 burn jobs of JOB_MS through POST /jobs, `docker service scale
#     worker=3`: 3 tasks running, 3 workers registered
#  5. `docker kill` (SIGKILL) the container of a worker running a job: its job
#     runs again on another worker and ends done, Swarm starts a new container
#  6. JOBS/2 more jobs, then `docker service update --force` of the workers
#     (a rolling restart, one at a time, stop-first) while they run and FEED
#     more a second arrive: every old worker ends "stopped", none "lost"
#  7. every accepted job ends done; the only job run twice is the killed
#     worker's (at-least-once), no attempt was cut off by the update: the job
#     each old worker ran when its SIGTERM came (the engine's kill events)
#     ended done, on that worker, at its first attempt
#  8. on exit, passed or not: `docker stack rm`, its containers, network and
#     volume gone, the swarm left if this script made it; a summary table
# Needs docker (the CLI's `docker stack`), curl and python3 (JSON); root only
# for the first debootstrap (offline-images.sh). Every wait is bounded.
# Environment: SWARM_JOBS (200), SWARM_JOB_MS (300), SWARM_FEED (3 jobs a
# second during the update), API_PORT (first free from
# 18080), WORKER_LEASE (5s), OFFLOAD_IMAGE (offload:swarm-test), NO_BUILD=1
# uses that image if it exists, KEEP=1 leaves a failed stack (and swarm) up.
# shellcheck disable=SC2015  # ok() and bad() always succeed
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
T0=$SECONDS

pass=0 fail=0
say() { printf 'swarm-test: %s\n' "$*" >&2; }
ok() { pass=$((pass + 1)); printf 'PASS: %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf 'FAIL: %s\n' "$*"; }
die() { bad "$*"; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

# ---- tools ------------------------------------------------------------------
for t in docker curl python3 timeout; do
  command -v "$t" >/dev/null || { echo "swarm-test: $t not found" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "swarm-test: the docker daemon does not answer" >&2; exit 1; }
docker stack --help >/dev/null 2>&1 || { echo "swarm-test: this docker CLI has no 'docker stack'" >&2; exit 1; }
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

# ---- settings ---------------------------------------------------------------
JOBS=${SWARM_JOBS:-200}
JOB_MS=${SWARM_JOB_MS:-300}
FEED=${SWARM_FEED:-3}                  # jobs a second while the update runs
WAVE1=$((JOBS / 2))
WAVE2=$((JOBS - WAVE1))
STACK="offloadswarm$$"
export OFFLOAD_IMAGE=${OFFLOAD_IMAGE:-offload:swarm-test}
export WORKER_LEASE=${WORKER_LEASE:-5s}
TMP=$(mktemp -d /tmp/offload-swarm.XXXXXX)
export DEMO_OUT_DIR=$TMP/out           # the demo (0 replicas) never runs here
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
API_PORT=${API_PORT:-18080}
[ "$API_PORT" -gt 0 ] 2>/dev/null || API_PORT=18080   # a fixed port: 0 (compose test's) is not read back here
for _ in $(seq 1 50); do port_busy "$API_PORT" || break; API_PORT=$((API_PORT + 1)); done
port_busy "$API_PORT" && { echo "swarm-test: no free port from 18080" >&2; exit 1; }
export API_PORT
BASE="http://127.0.0.1:$API_PORT"
SVC_W="${STACK}_worker"
COMPOSE_FILE="$ROOT/docker-compose.yml"
OVERRIDE="$ROOT/deploy/swarm/docker-stack.override.yml"

swarm_made=0 gwbridge_made=0 deployed=0 feeder=''
summary=''

stack_left() {
  {
    docker service ls -q --filter "label=com.docker.stack.namespace=$STACK"
    docker ps -aq --filter "label=com.docker.stack.namespace=$STACK"
    docker network ls -q --filter "label=com.docker.stack.namespace=$STACK"
  } 2>/dev/null | wc -l | tr -d ' '
}

teardown() {
  local rc=$?
  set +e
  trap - INT TERM
  [ -n "$feeder" ] && { touch "$TMP/update.done"; kill "$feeder" 2>/dev/null; wait "$feeder" 2>/dev/null; }
  if [ "$deployed" = 1 ] && { [ "$fail" -gt 0 ] || [ "$rc" != 0 ]; }; then
    for s in api worker redis; do
      say "logs of ${STACK}_$s (last 30 lines):"
      timeout 20 docker service logs --no-trunc --tail 30 "${STACK}_$s" >&2 2>&1
    done
    if [ "${KEEP:-0}" = 1 ]; then say "KEEP=1: leaving stack $STACK (and the swarm) up"; exit 1; fi
  fi
  if [ "$deployed" = 1 ]; then
    t=$SECONDS
    # Workers first, so each drains while Redis is still there to take its
    # result (stack rm stops every service at once: a busy worker would wait
    # for Redis until its 90 s grace ran out).
    timeout 120 docker service scale --detach=false "$SVC_W=0" >/dev/null 2>&1
    timeout 60 docker stack rm "$STACK" >/dev/null 2>&1
    # stack rm returns at once; containers (each drained by SIGTERM) and the
    # network go after it.
    for _ in $(seq 1 120); do [ "$(stack_left)" = 0 ] && break; sleep 1; done
    for _ in $(seq 1 20); do
      docker volume rm "${STACK}_redis-data" >/dev/null 2>&1 && break
      docker volume inspect "${STACK}_redis-data" >/dev/null 2>&1 || break
      sleep 1
    done
    left=$(stack_left)
    if [ "$left" = 0 ] && ! docker volume inspect "${STACK}_redis-data" >/dev/null 2>&1; then
      ok "docker stack rm: no service, container, network or volume of $STACK left after $((SECONDS - t)) s"
    else
      bad "$left services/containers/networks of $STACK left after stack rm (or its volume)"
    fi
  fi
  if [ "$swarm_made" = 1 ]; then
    timeout 60 docker swarm leave --force >/dev/null 2>&1
    [ "$gwbridge_made" = 1 ] && docker network rm docker_gwbridge >/dev/null 2>&1
    st=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)
    [ "$st" = inactive ] && ok "left the swarm this test made" || bad "swarm state after leave: $st"
  fi
  rm -rf "$TMP"
  [ -n "$summary" ] && printf '\n%s\n' "$summary"
  printf '\n%d passed, %d failed, %d s\n' "$pass" "$((fail + (rc != 0 && fail == 0 ? 1 : 0)))" "$((SECONDS - T0))"
  [ "$fail" = 0 ] && [ "$rc" = 0 ] || exit 1
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- helpers ------------------------------------------------------------------
api() { curl -sS --max-time "${TMO:-35}" "$@"; }
# py EXPR-SCRIPT: runs python3 with the JSON on stdin as `d` (None if unreadable).
py() { python3 -c 'import json, sys
try: d = json.load(sys.stdin)
except Exception: d = None
'"$1" "${@:2}"; }
# "id host jobid" for every alive worker (jobid "-" when idle).
alive_workers() {
  api "$BASE/workers" | py '
for w in (d or {}).get("workers", []):
    if w.get("alive"):
        print(w["id"], w.get("host", ""), (w.get("job") or {}).get("id") or "-")'
}
running_tasks() {
  docker service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null \
    | grep -c '^Running' || true
}
worker_containers() { docker ps -q --filter "label=com.docker.swarm.service.name=$SVC_W"; }
queue_left() {  # queued + running on the default queue, or "?"
  api "$BASE/queues" | py '
q = ((d or {}).get("queues") or {}).get("default") or {}
print(q.get("depth", 0) + q.get("in_progress", 0) if d else "?")'
}
# submit N: N burn jobs in one POST /jobs batch; appends their ids to $TMP/ids.
submit() {
  local n=$1 body
  body=$(python3 -c 'import json, sys; print(json.dumps([{"ms": int(sys.argv[2])}] * int(sys.argv[1])))' "$n" "$JOB_MS")
  api -X POST -H 'Content-Type: application/json' --data-binary "$body" "$BASE/jobs" \
    | py 'print("\n".join((d or {}).get("ids", [])))' >>"$TMP/ids"
}

# ---- 1. images ------------------------------------------------------------------
"$ROOT/tests/compose/offline-images.sh"
t=$SECONDS
if [ "${NO_BUILD:-0}" = 1 ] && docker image inspect "$OFFLOAD_IMAGE" >/dev/null 2>&1; then
  say "NO_BUILD=1: using the existing $OFFLOAD_IMAGE"
else
  docker build --build-arg "BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}" -t "$OFFLOAD_IMAGE" . \
    >"$TMP/build.log" 2>&1 || { tail -n 40 "$TMP/build.log"; die "image build failed"; }
  ok "image $OFFLOAD_IMAGE built in $((SECONDS - t)) s"
fi

# ---- 2. the swarm -----------------------------------------------------------------
state=$(docker info --format '{{.Swarm.LocalNodeState}}')
case $state in
  inactive)
    docker network inspect docker_gwbridge >/dev/null 2>&1 || gwbridge_made=1
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die "docker swarm init failed"
    swarm_made=1
    ok "initialised a single-node swarm (it is left on exit)" ;;
  active)
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] \
      || die "this node is in a swarm but not a manager: cannot deploy a stack"
    say "a swarm is already active here: using it, leaving it as it is" ;;
  *) die "swarm state '$state': neither inactive nor active" ;;
esac

# ---- 3. deploy ------------------------------------------------------------------------
t_deploy=$(now)
deployed=1
docker stack deploy --resolve-image never -c "$COMPOSE_FILE" -c "$OVERRIDE" "$STACK" >"$TMP/deploy.log" 2>&1 \
  || { cat "$TMP/deploy.log"; die "docker stack deploy failed"; }
ok "docker stack deploy -c docker-compose.yml -c deploy/swarm/docker-stack.override.yml $STACK"
for _ in $(seq 1 900); do
  curl -fsS --max-time 2 "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS --max-time 2 "$BASE/readyz" >/dev/null 2>&1 || die "api not ready on port $API_PORT within 90 s"
t_ready=$(now)
ok "/readyz 200 on port $API_PORT $(secs "$t_ready" "$t_deploy") s after the deploy began"
# A task with a health check counts once its first check passed (API: 10 s).
want="${STACK}_api=1/1 ${STACK}_demo=0/0 ${STACK}_redis=1/1 ${STACK}_slowsvc=1/1 ${STACK}_worker=2/2 "
for _ in $(seq 1 120); do
  reps=$(docker service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}}={{.Replicas}}' | sort | tr '\n' ' ')
  [ "$reps" = "$want" ] && break
  sleep 0.5
done
t_conv=$(now)
[ "$reps" = "$want" ] && ok "every service at its replicas $(secs "$t_conv" "$t_deploy") s after the deploy began: $reps" \
  || bad "replicas 60 s after /readyz: '$reps', want '$want'"
spec=$(docker service inspect -f '{{.Spec.UpdateConfig.Parallelism}} {{.Spec.UpdateConfig.Order}} {{.Spec.TaskTemplate.ContainerSpec.StopGracePeriod}} {{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.TaskTemplate.RestartPolicy.Condition}} {{.Spec.TaskTemplate.ContainerSpec.Init}} {{.Spec.EndpointSpec.Mode}}' "$SVC_W")
[ "$spec" = "1 stop-first 1m30s 1000000000 536870912 any true dnsrr" ] \
  && ok "worker service: update 1 at a time stop-first, stop grace 90 s, limits 1 CPU / 512 MiB, restart any, init, dnsrr" \
  || bad "worker service spec: '$spec'"

# ---- 4. jobs, then scale to 3 -------------------------------------------------------------
: >"$TMP/ids"
t_load=$(now)
submit "$WAVE1"
n=$(wc -l <"$TMP/ids" | tr -d ' ')
[ "$n" = "$WAVE1" ] && ok "$WAVE1 jobs of $JOB_MS ms accepted (POST /jobs, one batch)" || die "$n of $WAVE1 jobs accepted"
t=$SECONDS
timeout 120 docker service scale --detach=false "$SVC_W=3" >"$TMP/scale.log" 2>&1 || bad "docker service scale $SVC_W=3 failed or took over 120 s"
for _ in $(seq 1 40); do [ "$(running_tasks "$SVC_W")" = 3 ] && break; sleep 0.5; done
n=$(running_tasks "$SVC_W")
[ "$n" = 3 ] && ok "docker service scale $SVC_W=3: 3 tasks running after $((SECONDS - t)) s" || bad "$n worker tasks running, want 3"
for _ in $(seq 1 40); do [ "$(alive_workers | wc -l)" -ge 3 ] && break; sleep 0.5; done
n=$(alive_workers | wc -l | tr -d ' ')
[ "$n" = 3 ] && ok "3 workers registered (GET /workers)" || bad "$n workers alive in GET /workers, want 3"

# ---- 5. kill -9 a busy worker -------------------------------------------------------------------
victim='' vid='' vjob=''
for _ in $(seq 1 100); do
  containers=$(worker_containers)
  while read -r id host job; do
    [ "$job" != "-" ] || continue
    for c in $containers; do
      case $c in "$host"*) victim=$c vid=$id vjob=$job; break 2 ;; esac
    done
  done < <(alive_workers)
  [ -n "$victim" ] && break
  sleep 0.1
done
[ -n "$victim" ] || die "no worker seen running a job with a container of $SVC_W"
t_kill=$(now)
docker kill -s KILL "$victim" >/dev/null || die "docker kill $victim failed"
ok "docker kill -s KILL $victim (worker $vid, busy in GET /workers)"
# Swarm notices the dead container, marks its task failed and starts a new
# one: 3 tasks running again, none of them the killed one.
vtask=$(docker inspect -f '{{index .Config.Labels "com.docker.swarm.task.id"}}' "$victim")
t_back=''
for _ in $(seq 1 120); do
  tasks=$(docker service ps "$SVC_W" --no-trunc --filter desired-state=running --format '{{.ID}} {{.CurrentState}}')
  if [ "$(printf '%s\n' "$tasks" | grep -c ' Running')" = 3 ] && ! printf '%s\n' "$tasks" | grep -q "^$vtask "; then
    t_back=$(now); break
  fi
  sleep 0.25
done
[ -n "$t_back" ] && ok "Swarm replaced the killed container: 3 tasks running $(secs "$t_back" "$t_kill") s after the kill" \
  || bad "worker tasks running 30 s after the kill: $(running_tasks "$SVC_W"), want 3"
# The job it held: GET /workers is up to 1 s old, so the one it showed may
# have ended before the kill. The killed worker's own record, once a peer has
# judged it lost, names the job it held when it died.
vjob='' vreason=''
for _ in $(seq 1 60); do
  read -r vreason vjob < <(api "$BASE/workers" | py '
for w in (d or {}).get("dead", []):
    if w["id"] == sys.argv[1]:
        print((w.get("reason") or "-").replace(" ", "_"), (w.get("job") or {}).get("id") or "-")
        break
else:
    print("- -")' "$vid") || true
  [ "${vreason:--}" != - ] && break
  sleep 0.5
done
[ "$vreason" = worker_lost ] && [ "${vjob:--}" != - ] \
  && ok "the killed worker is in GET /workers' dead list: 'worker lost', holding job $vjob" \
  || die "the killed worker $vid in GET /workers' dead list: reason '${vreason:-none}', job '${vjob:-none}' (want 'worker lost' and a job)"
vjson=$(TMO=70 api "$BASE/jobs/$vjob?wait=60")
read -r vstate vworker vattempts vrestart vdone vlost < <(printf '%s' "$vjson" | py '
h = d.get("history") or []
print(d.get("state"), d.get("worker"), d.get("attempts"), h[-1]["started_at"] if h else 0,
      d.get("finished_at") or 0, sum(1 for a in h if a.get("outcome") == "lost"))')
if [ "$vstate" = done ] && [ "$vworker" != "$vid" ] && [ "$vlost" = 1 ]; then
  rec_run=$(secs "$vrestart" "$t_kill") rec_done=$(secs "$vdone" "$t_kill")
  ok "the killed worker's job ran again on $vworker ${rec_run} s after the kill, done after ${rec_done} s (attempts $vattempts; the first 'lost')"
else
  rec_run='-' rec_done='-'
  bad "the killed worker's job: state $vstate, worker $vworker (killed: $vid), lost attempts $vlost: $vjson"
fi

# ---- 6. a rolling update while jobs run -------------------------------------------------------------
for _ in $(seq 1 40); do [ "$(alive_workers | grep -vc "^$vid ")" -ge 3 ] && break; sleep 0.5; done
alive_workers | awk -v v="$vid" '$1 != v { print $1 }' | sort >"$TMP/old"
submit "$WAVE2"
n=$(wc -l <"$TMP/ids" | tr -d ' ')
[ "$n" = "$JOBS" ] && ok "$WAVE2 more jobs accepted ($JOBS in all)" || die "$n of $JOBS jobs accepted"
# More jobs keep coming while the update runs (FEED a second, below what 2
# cores finish), so every worker it stops is stopped under load.
( for _ in $(seq 1 300); do
    [ -e "$TMP/update.done" ] && break
    echo "$FEED" >>"$TMP/fed"
    submit "$FEED" || true
    sleep 1
  done ) &
feeder=$!
left_before=$(queue_left)
t_upd=$(now)
if timeout 300 docker service update --force --detach=false "$SVC_W" >"$TMP/update.log" 2>&1; then
  t_upd_end=$(now)
  upd_s=$(secs "$t_upd_end" "$t_upd")
  ok "docker service update --force $SVC_W (rolling, 1 at a time) converged in $upd_s s"
else
  t_upd_end=$(now)
  upd_s='-'
  tail -n 20 "$TMP/update.log"; bad "docker service update --force $SVC_W failed or took over 300 s"
fi
touch "$TMP/update.done"
wait "$feeder" || true
feeder=''
left_after=$(queue_left)
fed=$(awk '{ n += $1 } END { print n + 0 }' "$TMP/fed" 2>/dev/null || echo 0)
sent=$((JOBS + fed))
accepted=$(wc -l <"$TMP/ids" | tr -d ' ')
[ "$accepted" = "$sent" ] && ok "$fed more jobs accepted during the update ($sent in all)" || bad "$accepted of $sent jobs accepted"
for _ in $(seq 1 60); do
  ust=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$SVC_W")
  [ "$ust" = updating ] || break
  sleep 0.5
done
[ "$ust" = completed ] && ok "update status: completed (no rollback)" || bad "update status: '$ust'"
say "$left_before jobs queued or running when the update began, $left_after when it ended"
# When each old container got its SIGTERM (the engine's kill events).
docker events --since "$(printf '%.0f' "${t_upd%.*}")" --until "$(printf '%.0f' "$(awk -v t="$t_upd_end" 'BEGIN { printf "%d", t + 1 }')")" \
  --filter type=container --filter event=kill --filter "label=com.docker.swarm.service.name=$SVC_W" \
  --format '{{.Actor.ID}} {{index .Actor.Attributes "signal"}} {{.TimeNano}}' 2>/dev/null \
  | awk '$2 == 15 { printf "%s %.6f\n", substr($1, 1, 12), $3 / 1e9 }' >"$TMP/terms" || true
n_old=$(wc -l <"$TMP/old" | tr -d ' ')
# Every pre-update worker must have ended "stopped": drained, deregistered.
api "$BASE/workers" >"$TMP/workers.json"
read -r stopped other < <(py '
old = set(open(sys.argv[1]).read().split())
st = {w["id"]: w.get("reason") for w in d.get("dead", []) if w["id"] in old}
print(sum(1 for r in st.values() if r == "stopped"), ";".join("%s=%s" % (i, st.get(i)) for i in sorted(old) if st.get(i) != "stopped") or "-")' \
  "$TMP/old" <"$TMP/workers.json")
[ "$n_old" = 3 ] && [ "$stopped" = 3 ] \
  && ok "all 3 replaced workers ended 'stopped' (deregistered after SIGTERM), none 'worker lost'" \
  || bad "replaced workers: $stopped of $n_old 'stopped'; others: $other"
nalive=$(py 'print(sum(1 for w in d.get("workers", []) if w.get("alive")))' <"$TMP/workers.json")
[ "$nalive" = 3 ] && ok "3 new workers registered after the update" || bad "$nalive workers alive after the update, want 3"

# ---- 7. every job done ------------------------------------------------------------------------------
t=$SECONDS
for _ in $(seq 1 300); do [ "$(queue_left)" = 0 ] && break; sleep 1; done
t_drained=$(now)
[ "$(queue_left)" = 0 ] && ok "queue drained $((SECONDS - t)) s after the update" || bad "jobs still queued or running after 300 s"
python3 - "$BASE" "$TMP/ids" "$TMP/old" "$vjob" "$TMP/terms" >"$TMP/result" <<'PY' || die "checking the jobs failed"
import json, sys, urllib.request
base, ids_file, old_file, vjob, terms_file = sys.argv[1:6]
ids = open(ids_file).read().split()
old = set(open(old_file).read().split())
terms = [(l.split()[0], float(l.split()[1])) for l in open(terms_file) if l.strip()]
states, rerun, done_twice, cut, by_old, workers, jobs = {}, [], [], [], 0, set(), []
for jid in ids:
    with urllib.request.urlopen("%s/jobs/%s" % (base, jid), timeout=30) as r:
        j = json.load(r)
    jobs.append(j)
    states[j["state"]] = states.get(j["state"], 0) + 1
    h = j.get("history") or []
    if (j.get("attempts") or 0) > 1 or len(h) > 1:
        rerun.append(jid)
    if sum(1 for a in h if a.get("outcome") == "done") > 1:
        done_twice.append(jid)
    if jid != vjob and any(a.get("outcome") != "done" for a in h):
        cut.append("%s:%s" % (jid, ",".join(a.get("outcome") or "?" for a in h)))
    if j["state"] == "done":
        workers.add(j.get("worker"))
        if j.get("worker") in old: by_old += 1
# The drain: for each old worker's SIGTERM, the attempt it was running then
# (history: same worker, started before, ended after) and how it ended.
midjob, drained_ok, detail = 0, 0, []
for host, t in terms:
    wid = [w for w in old if w.startswith(host)]
    if not wid:
        continue
    for j in jobs:
        for a in j.get("history") or []:
            if a.get("worker") == wid[0] and a["started_at"] <= t <= (a.get("ended_at") or 0):
                midjob += 1
                good = a.get("outcome") == "done" and len(j.get("history")) == 1
                drained_ok += good
                detail.append("%s:%.2fs-after-SIGTERM:%s" % (wid[0], a["ended_at"] - t, a.get("outcome")))
print("done=%d" % states.get("done", 0))
print("states=%s" % ",".join("%s:%d" % kv for kv in sorted(states.items())))
print("rerun=%d" % len(rerun))
print("rerun_ids=%s" % (",".join(rerun) or "-"))
print("done_twice=%d" % len(done_twice))
print("cut=%d" % len(cut))
print("cut_ids=%s" % (";".join(cut) or "-"))
print("workers=%d" % len(workers))
print("by_old=%d" % by_old)
print("terms=%d" % sum(1 for h, _ in terms if any(w.startswith(h) for w in old)))
print("midjob=%d" % midjob)
print("drained_ok=%d" % drained_ok)
print("drain_detail=%s" % (" ".join(detail) or "-"))
PY
val() { sed -n "s/^$1=//p" "$TMP/result"; }
done_n=$(val done) rerun=$(val rerun) cut=$(val cut) twice=$(val done_twice)
lost=$((accepted - done_n))
[ "$done_n" = "$accepted" ] && ok "$done_n/$accepted jobs done, none lost" || bad "$done_n/$accepted jobs done (states: $(val states))"
[ "$twice" = 0 ] && ok "no job finished twice" || bad "$twice jobs finished twice"
if [ "$rerun" = 1 ] && [ "$(val rerun_ids)" = "$vjob" ]; then
  ok "one job ran twice: the killed worker's (at-least-once: a kill costs its job's attempt)"
elif [ "$rerun" = 0 ]; then
  bad "no job ran twice: the killed worker's job should have"
else
  bad "$rerun jobs ran more than once, want 1 (the killed worker's): $(val rerun_ids)"
fi
[ "$cut" = 0 ] && ok "no attempt cut off by the rolling update (every attempt but the killed one's 'done')" \
  || bad "$cut jobs had an attempt that did not end done: $(val cut_ids)"
midjob=$(val midjob) drained_ok=$(val drained_ok)
if [ "$(val terms)" = 3 ] && [ "$midjob" -ge 1 ] && [ "$drained_ok" = "$midjob" ]; then
  ok "SIGTERM reached the 3 old workers; $midjob of them were running a job then, and finished it done, first attempt ($(val drain_detail))"
else
  bad "drain: $(val terms) SIGTERMs to old workers seen, $midjob mid-job, $drained_ok of those finished done ($(val drain_detail))"
fi
say "$(val workers) distinct workers ran the jobs; $(val by_old) finished by the workers the update replaced"
load_s=$(secs "$t_drained" "$t_load")

summary=$(cat <<EOF
| make test-swarm ($(date -u +%Y-%m-%d), Docker $(docker version -f '{{.Server.Version}}' 2>/dev/null), $(nproc) cores) | |
|---|---|
| jobs sent / accepted / done | $sent / $accepted / $done_n ($JOB_MS ms burn each: $WAVE1 before the kill, $WAVE2 before the update, $fed during it) |
| lost | $lost |
| ran twice (at-least-once) | $rerun (the job of the killed worker) |
| recovered after kill -9 | 1 job: running again on another worker after $rec_run s, done after $rec_done s |
| killed container replaced by Swarm | $( [ -n "$t_back" ] && secs "$t_back" "$t_kill" || echo '-') s |
| rolling update of 3 workers (stop-first, 1 at a time) | $upd_s s; $midjob of the 3 were mid-job at SIGTERM, $drained_ok finished it (done, first attempt); $cut attempts cut off; $left_before jobs waiting at its start, $left_after at its end |
| deploy to /readyz | $(secs "$t_ready" "$t_deploy") s |
| first job accepted to queue drained | $load_s s |
EOF
)
