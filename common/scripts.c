#include "common/scripts.h"

#include "common/defaults.h"

/* The scheduled set: P..'scheduled' holds the ids of jobs waiting for
 * their run_at (a delay, or a retry's backoff), scored by it in Unix µs of
 * Redis's clock (TIME), and P..'scheduled:count' how many of them each
 * queue has. schedule() PUBLISHes the due time on P..'sched' when it is
 * earlier than every other, so the movers (common/mover.c) re-arm their
 * timers; unschedule() takes an id out. */
#define LUA_SCHEDULE \
    "local function schedule(id, q, due)\n" \
    "  local sk = P .. 'scheduled'\n" \
    "  local first = redis.call('ZRANGE', sk, 0, 0, 'WITHSCORES')\n" \
    "  redis.call('ZADD', sk, us(due), id)\n" \
    "  redis.call('HINCRBY', P .. 'scheduled:count', q, 1)\n" \
    "  if not first[2] or due < tonumber(first[2]) then redis.call('PUBLISH', P .. 'sched', us(due)) end\n" \
    "end\n" \
    "local function unschedule(id, q)\n" \
    "  if redis.call('ZREM', P .. 'scheduled', id) == 0 or not q then return end\n" \
    "  if redis.call('HINCRBY', P .. 'scheduled:count', q, -1) <= 0 then\n" \
    "    redis.call('HDEL', P .. 'scheduled:count', q) end\n" \
    "end\n"

/* A job's history: the last HISTORY_MAX attempts as JSON text, an array
 * whose entries are separated by ",\n" (a newline never occurs inside an
 * entry: cjson escapes it in strings), so the oldest is cut without
 * parsing. history(h, attempt, w, outcome, err, started, ended) returns h
 * (the stored text, or nil) with one entry more; it makes no Redis call,
 * so the caller writes the result in the HSET it makes anyway. */
#define HISTORY_MAX "10"
#define HISTORY_ERROR_MAX "1024" /* bytes of each attempt's error kept there (the job's error has all) */
#define LUA_HISTORY \
    "local function history(h, attempt, w, outcome, err, started, ended)\n" \
    "  if not tonumber(started) then started = 'null' end\n" \
    "  if err and err ~= '' then err = cjson.encode(string.sub(err, 1, " HISTORY_ERROR_MAX ")) else err = 'null' end\n" \
    "  local e = '{\"attempt\":' .. (tonumber(attempt) or 0) .. ',\"worker\":' .. cjson.encode(w or '') ..\n" \
    "    ',\"started_at\":' .. started .. ',\"ended_at\":' .. ended .. ',\"outcome\":' .. cjson.encode(outcome) ..\n" \
    "    ',\"error\":' .. err .. '}'\n" \
    "  if not h or string.sub(h, 1, 1) ~= '[' then return '[' .. e .. ']' end\n" \
    "  h = string.sub(h, 1, -2) .. ',\\n' .. e .. ']'\n" \
    "  local _, count = string.gsub(h, '\\n', '')\n" \
    "  while count >= " HISTORY_MAX " do\n" \
    "    local cut = string.find(h, ',\\n', 1, true)\n" \
    "    h = '[' .. string.sub(h, cut + 2)\n" \
    "    count = count - 1\n" \
    "  end\n" \
    "  return h\n" \
    "end\n"

/* Queue rates: flow(dir, q, n) counts n jobs entering ('in') or leaving
 * ('out') queue q in the current second of Redis's clock, in one hash per
 * second, P..'stats:'..second, fields in:<queue> and out:<queue>, kept
 * FLOW_KEEP_S seconds (SCRIPT_QUEUES sums the last SCRIPT_FLOW_WINDOW_S
 * complete ones). In: a job made queued (enqueue, a schedule's tick), a delayed job's
 * first promotion, a dead job retried. Out: a job that ended done or dead.
 * A retry after its backoff and a recovered job are the same job still in
 * the system: not counted again, so in and out balance. */
#define FLOW_KEEP_S "120"
#define FLOW_WINDOW_S DEFAULTS_STR(SCRIPT_FLOW_WINDOW_S)
#define LUA_FLOW \
    "local function flow(dir, q, n)\n" \
    "  if not q or n <= 0 then return end\n" \
    "  local k = P .. 'stats:' .. math.floor(redis_now() / 1000000)\n" \
    "  if redis.call('HINCRBY', k, dir .. ':' .. q, n) == n then redis.call('EXPIRE', k, " FLOW_KEEP_S ") end\n" \
    "end\n"

/* A worker's record, P..'worker:'..w (its connect writes tasks, queues,
 * host, pid, started_at): job_began(w, id, task, now) sets job, job_task
 * and job_since; job_ended(w, counter) clears them and adds 1 to counter
 * (jobs_done, jobs_failed, or nil). A worker without a record (not
 * registered) gets none. */
#define LUA_WORKER_REC \
    "local function job_began(w, id, task, now)\n" \
    "  local wk = P .. 'worker:' .. w\n" \
    "  if redis.call('EXISTS', wk) == 1 then redis.call('HSET', wk, 'job', id, 'job_task', task, 'job_since', now) end\n" \
    "end\n" \
    "local function job_ended(w, counter)\n" \
    "  local wk = P .. 'worker:' .. w\n" \
    "  if redis.call('EXISTS', wk) == 0 then return end\n" \
    "  if counter then redis.call('HINCRBY', wk, counter, 1) end\n" \
    "  redis.call('HDEL', wk, 'job', 'job_task', 'job_since')\n" \
    "end\n"

/* Shared preamble: key helpers and notify publishing. publish() sends the
 * id to every API named in a notify value; notify() reads that value first. */
#define LUA_PRELUDE \
    "local P = ARGV[1]\n" \
    "local function jobkey(id) return P .. 'job:' .. id end\n" \
    "local function publish(apis, id)\n" \
    "  if apis then for api in string.gmatch(apis, '%S+') do\n" \
    "    redis.call('PUBLISH', P .. 'done:' .. api, id) end end\n" \
    "end\n" \
    "local function notify(jk, id) publish(redis.call('HGET', jk, 'notify'), id) end\n" \
    "local RNOW\n" \
    "local function redis_now()\n" \
    "  if not RNOW then local t = redis.call('TIME'); RNOW = tonumber(t[1]) * 1000000 + tonumber(t[2]) end\n" \
    "  return RNOW\n" \
    "end\n" \
    "local function us(x) return string.format('%.0f', x) end\n" \
    LUA_SCHEDULE LUA_HISTORY LUA_FLOW LUA_WORKER_REC

/* The START step for an id already in worker w's wip list: a queued job
 * becomes running by w with attempts+1, and {ms, payload, attempts,
 * max_attempts, task, args, timeout_ms, queue} is returned ('' for what the
 * job lacks); anything else (gone, cancelled, finished) is dropped from the
 * wip list and nil is returned. A job taken to wait behind another in the
 * worker's hands (prefetch) is marked held: its run has not begun (see
 * LUA_BEGIN), so a recovery puts it back without counting the attempt. */
#define LUA_START \
    "local function start(id, w, now, held)\n" \
    "  local jk = jobkey(id)\n" \
    "  local f = redis.call('HMGET', jk, 'state', 'ms', 'payload', 'max_attempts', 'attempts',\n" \
    "    'finished_at', 'error', 'task', 'args', 'timeout_ms', 'queue')\n" \
    "  if f[1] ~= 'queued' then\n" \
    "    redis.call('LREM', P .. 'wip:' .. w, 0, id)\n" \
    "    return nil\n" \
    "  end\n" \
    "  local a = tostring(tonumber(f[5] or '0') + 1)\n" \
    "  redis.call('HSET', jk, 'state', 'running', 'started_at', now, 'worker', w, 'attempts', a)\n" \
    "  if f[6] or f[7] then redis.call('HDEL', jk, 'finished_at', 'error') end\n" \
    "  if held then redis.call('HSET', jk, 'held', '1')\n" \
    "  else redis.call('HDEL', jk, 'held'); job_began(w, id, f[8] or 'burn', now) end\n" \
    "  return {f[2] or '', f[3] or '', a, f[4] or '1', f[8] or 'burn', f[9] or '', f[10] or '',\n" \
    "    f[11] or ''}\n" \
    "end\n"

/* Takes up to n queued jobs for worker w from the queues named in
 * ARGV[first..], highest priority first: LMOVE into its wip list (reliable
 * fetch), then the START step. Ids of jobs cancelled or gone meanwhile are
 * dropped on the way. Appends {id} followed by START's fields per job to
 * out (which may hold a reply's head already); returns out, or nil when
 * nothing was taken and out is empty. */
#define LUA_TAKE LUA_START \
    "local function take(w, now, first, n, out)\n" \
    "  local wip, got = P .. 'wip:' .. w, 0\n" \
    "  for i = first, #ARGV do\n" \
    "    while got < n do\n" \
    "      local id = redis.call('LMOVE', P .. 'q:' .. ARGV[i], wip, 'RIGHT', 'LEFT')\n" \
    "      if not id then break end\n" \
    "      local s = start(id, w, now, got > 0)\n" \
    "      if s then\n" \
    "        out[#out + 1] = id\n" \
    "        for _, v in ipairs(s) do out[#out + 1] = v end\n" \
    "        got = got + 1\n" \
    "      end\n" \
    "    end\n" \
    "  end\n" \
    "  if #out == 0 then return nil end\n" \
    "  return out\n" \
    "end\n"

/* The wait before retrying after attempt a (>= 1) of job jk, in µs: its
 * backoff_base_ms doubled per attempt, capped at backoff_max_ms (defaults
 * when the job has none), with "equal jitter": a uniform draw in [d/2, d]
 * from jitter in [0, 1) (Lua's random is seeded the same in every script:
 * the caller draws it). */
#define LUA_BACKOFF \
    "local function backoff(jk, a, jitter)\n" \
    "  local f = redis.call('HMGET', jk, 'backoff_base_ms', 'backoff_max_ms')\n" \
    "  local base, max = tonumber(f[1]) or " SCRIPT_BACKOFF_BASE_MS ", tonumber(f[2]) or " SCRIPT_BACKOFF_MAX_MS "\n" \
    "  local d = base * 2 ^ (a - 1)\n" \
    "  if d > max then d = max end\n" \
    "  local j = tonumber(jitter) or 0.5\n" \
    "  return math.floor((d / 2 + j * d / 2) * 1000)\n" \
    "end\n"

/* The FINISH step as a function: 1 stored, 0 ignored (already terminal), 2
 * dropped: the run is not the job's current one (fencing: the job was
 * recovered from w — put back on its queue, or started again elsewhere,
 * which the attempt number `run` tells even when the same worker took it).
 * st is done; failed (the task failed: error, timeout, oversized output)
 * or retry (a run that ended like a crash: no handler, a coprocess that
 * died), which schedule the job again after its backoff while attempts
 * remain and make it dead after the last; or requeue: a run that never
 * reached its task (back, the attempt not counted). Every counted attempt
 * is added to the job's history. Empty arguments store nothing:
 * digest..wall are burn's, res/rkind a user task's output. */
#define LUA_FINISH LUA_BACKOFF \
    "local function finish(id, w, now, ttl, st, digest, iters, cpu, wall, err, res, rkind, run, jitter)\n" \
    "  local jk = jobkey(id)\n" \
    "  redis.call('LREM', P .. 'wip:' .. w, 0, id)\n" \
    "  local f = redis.call('HMGET', jk, 'state', 'queue', 'notify', 'attempts', 'max_attempts',\n" \
    "    'worker', 'started_at', 'history', 'held')\n" \
    "  local cur, hist = f[1], nil\n" \
    "  if not cur or (cur ~= 'queued' and cur ~= 'running') then job_ended(w, nil); return 0 end\n" \
    "  if cur ~= 'running' or f[6] ~= w or (run ~= '' and f[4] ~= run) then job_ended(w, nil); return 2 end\n" \
    "  if f[9] then redis.call('HDEL', jk, 'held') end\n" \
    "  if not f[2] then\n" \
    "    st = 'failed'; err = 'malformed job: no queue'\n" \
    "  end\n" \
    "  job_ended(w, st == 'done' and 'jobs_done' or st ~= 'requeue' and 'jobs_failed' or nil)\n" \
    "  if not f[2] then\n" \
    "    -- nowhere to put it back: failed for good, stored below\n" \
    "  elseif st == 'requeue' then\n" \
    "    redis.call('HSET', jk, 'state', 'queued', 'error', err,\n" \
    "      'attempts', tostring(math.max(0, tonumber(f[4] or '1') - 1)))\n" \
    "    redis.call('LPUSH', P .. 'q:' .. f[2], id)\n" \
    "    redis.call('SADD', P .. 'queues', f[2])\n" \
    "    return 1\n" \
    "  elseif st == 'failed' or st == 'retry' then\n" \
    "    hist = history(f[8], f[4], w, st == 'retry' and 'crash' or 'error', err, f[7], now)\n" \
    "    local a, m = tonumber(f[4] or '0'), tonumber(f[5] or '1')\n" \
    "    if a < m then\n" \
    "      local due = redis_now() + backoff(jk, a, jitter)\n" \
    "      redis.call('HSET', jk, 'state', 'scheduled', 'error', err, 'run_at', us(due), 'history', hist)\n" \
    "      schedule(id, f[2], due)\n" \
    "      return 1\n" \
    "    end\n" \
    "    st = 'dead'\n" \
    "    err = err .. ' (attempt ' .. a .. ' of ' .. m .. ')'\n" \
    "    redis.call('LPUSH', P .. 'dead:' .. f[2], id)\n" \
    "    redis.call('SADD', P .. 'queues', f[2])\n" \
    "  else\n" \
    "    hist = history(f[8], f[4], w, 'done', '', f[7], now)\n" \
    "  end\n" \
    "  flow('out', f[2], 1)\n" \
    "  local h = {'state', st, 'finished_at', now, 'worker', w}\n" \
    "  if hist then h[#h + 1] = 'history'; h[#h + 1] = hist end\n" \
    "  if digest ~= '' then\n" \
    "    for _, v in ipairs({'digest', digest, 'iterations', iters, 'cpu_ms', cpu, 'wall_ms', wall}) do\n" \
    "      h[#h + 1] = v end\n" \
    "  end\n" \
    "  if err ~= '' then h[#h + 1] = 'error'; h[#h + 1] = err end\n" \
    "  if res ~= '' then\n" \
    "    h[#h + 1] = 'result'; h[#h + 1] = res; h[#h + 1] = 'result_kind'; h[#h + 1] = rkind\n" \
    "  end\n" \
    "  redis.call('HSET', jk, unpack(h))\n" \
    "  redis.call('EXPIRE', jk, ttl)\n" \
    "  publish(f[3], id)\n" \
    "  return 1\n" \
    "end\n"

/* begin(w, id, now): the run of job id, held by worker w behind the one
 * just reported, begins now (the report says so: it is sent as that run
 * ends, before the next one starts): no longer held, started_at now, and
 * the worker's record shows it. Anything else is left alone. */
#define LUA_BEGIN \
    "local function begin(w, id, now)\n" \
    "  if not id or id == '' then return end\n" \
    "  local jk = jobkey(id)\n" \
    "  local g = redis.call('HMGET', jk, 'state', 'worker', 'held', 'task')\n" \
    "  if g[1] ~= 'running' or g[2] ~= w or not g[3] then return end\n" \
    "  redis.call('HSET', jk, 'started_at', now)\n" \
    "  redis.call('HDEL', jk, 'held')\n" \
    "  job_began(w, id, g[4] or 'burn', now)\n" \
    "end\n"

/* The registry of queue names (P..'queues') is bounded: a queue with no
 * job queued, scheduled or dead for QUEUE_FORGET_MS is forgotten (its running
 * jobs still show, found through the workers' wip lists, and every script
 * that puts a job back on a queue or on its dead list registers the queue
 * again). queue_look(q,
 * now_ms) returns depth, dead, scheduled and whether q was just forgotten; the first
 * time q is seen empty is kept in P..'queues:empty'. */
#define QUEUE_FORGET_MS "60000"
#define LUA_QUEUE_LOOK \
    "local function queue_look(q, now_ms)\n" \
    "  local depth = redis.call('LLEN', P .. 'q:' .. q)\n" \
    "  local dead = redis.call('LLEN', P .. 'dead:' .. q)\n" \
    "  local sched = tonumber(redis.call('HGET', P .. 'scheduled:count', q)) or 0\n" \
    "  local ek = P .. 'queues:empty'\n" \
    "  if depth + dead + sched > 0 then redis.call('HDEL', ek, q); return depth, dead, sched, false end\n" \
    "  local since = tonumber(redis.call('HGET', ek, q))\n" \
    "  if not since then redis.call('HSET', ek, q, now_ms); return 0, 0, 0, false end\n" \
    "  if now_ms - since < " QUEUE_FORGET_MS " then return 0, 0, 0, false end\n" \
    "  redis.call('SREM', P .. 'queues', q); redis.call('HDEL', ek, q)\n" \
    "  return 0, 0, 0, true\n" \
    "end\n"

/* Makes job `id` on queue q from the hash pairs h (state queued): due (Unix
 * µs, or nil) past Redis's clock schedules it, else it is LPUSHed now.
 * Returns "queued" or "scheduled <due>". The enqueue and tick scripts share
 * it. */
#define LUA_CREATE \
    "local function create(id, q, h, due)\n" \
    "  local jk = jobkey(id)\n" \
    "  if due then h[#h + 1] = 'run_at'; h[#h + 1] = us(due) end\n" \
    "  redis.call('SADD', P .. 'queues', q)\n" \
    "  if due and due > redis_now() then\n" \
    "    h[4] = 'scheduled'\n" \
    "    redis.call('HSET', jk, unpack(h))\n" \
    "    schedule(id, q, due)\n" \
    "    return 'scheduled ' .. us(due)\n" \
    "  end\n" \
    "  redis.call('HSET', jk, unpack(h))\n" \
    "  redis.call('LPUSH', P .. 'q:' .. q, id)\n" \
    "  flow('in', q, 1)\n" \
    "  return 'queued'\n" \
    "end\n"

/* A registry at max_queues is swept for forgettable queues at most once a
 * second (P..'queues:swept'), so a flood of new names costs Redis one walk
 * of the registry a second, not one per request. Idempotency keys are
 * P..'idem:'..key = "<id> <fingerprint>" for idem_ttl seconds: a key seen
 * with the same fingerprint (and its job still there) replays that job, with
 * another fingerprint fails the whole call with "KEYREUSED <index>".
 * ARGV: see SCRIPT_ENQUEUE in scripts.h. */
static const char enqueue_lua[] = LUA_PRELUDE LUA_QUEUE_LOOK LUA_CREATE
    "local maxq, now, n = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])\n"
    "local maxqs, idttl, S = tonumber(ARGV[5]), tonumber(ARGV[6]), 15\n"
    "local out, fresh, seen, want, new = {0}, {}, {}, {}, 0\n"
    "for i = 0, n - 1 do\n"
    "  local b = 7 + i * S\n"
    "  local key, fp, old = ARGV[b + 13], ARGV[b + 14], nil\n"
    "  if key ~= '' then\n"
    "    local v = seen[key]\n"
    "    if not v then\n"
    "      local got = redis.call('GET', P .. 'idem:' .. key)\n"
    "      if got then\n"
    "        local oid, ofp = string.match(got, '^(%S+) (%S*)$')\n"
    "        if oid and redis.call('EXISTS', jobkey(oid)) == 1 then v = {oid, ofp} end\n"
    "      end\n"
    "    end\n"
    "    if v then\n"
    "      if v[2] ~= fp then return redis.error_reply('KEYREUSED ' .. (i + 1)) end\n"
    "      old = v[1]\n"
    "    else\n"
    "      seen[key] = {ARGV[b], fp}\n"
    "    end\n"
    "  end\n"
    "  out[i + 2] = old and ('=' .. old) or ''\n"
    "  if not old then\n"
    "    fresh[#fresh + 1] = b\n"
    "    local q = ARGV[b + 1]\n"
    "    want[q] = (want[q] or 0) + 1\n"
    "  end\n"
    "end\n"
    "for q, c in pairs(want) do\n"
    "  local held = redis.call('LLEN', P .. 'q:' .. q) +\n"
    "    (tonumber(redis.call('HGET', P .. 'scheduled:count', q)) or 0)\n"
    "  if held + c > maxq then return redis.error_reply('FULL ' .. q) end\n"
    "  if maxqs and redis.call('SISMEMBER', P .. 'queues', q) == 0 then new = new + 1 end\n"
    "end\n"
    "if new > 0 and redis.call('SCARD', P .. 'queues') + new > maxqs then\n"
    "  local now_ms = math.floor(tonumber(now) / 1000)\n"
    "  if redis.call('SET', P .. 'queues:swept', now_ms, 'PX', 1000, 'NX') then\n"
    "    for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do\n"
    "      if not want[q] then queue_look(q, now_ms) end\n"
    "    end\n"
    "  end\n"
    "  if redis.call('SCARD', P .. 'queues') + new > maxqs then\n"
    "    return redis.error_reply('QUEUES ' .. maxqs) end\n"
    "end\n"
    "for q in pairs(want) do redis.call('HDEL', P .. 'queues:empty', q) end\n"
    "local opt = {[2] = 'ms', [3] = 'payload', [5] = 'notify', [7] = 'args', [8] = 'timeout_ms',\n"
    "  [11] = 'backoff_base_ms', [12] = 'backoff_max_ms', [13] = 'key'}\n"
    "for _, b in ipairs(fresh) do\n"
    "  local id, q = ARGV[b], ARGV[b + 1]\n"
    "  local h = {'id', id, 'state', 'queued', 'queue', q, 'task', ARGV[b + 6],\n"
    "    'max_attempts', ARGV[b + 4], 'attempts', '0', 'created_at', now}\n"
    "  for k, name in pairs(opt) do\n"
    "    local v = ARGV[b + k]\n"
    "    if v ~= '' then h[#h + 1] = name; h[#h + 1] = v end\n"
    "  end\n"
    "  local due = nil\n"
    "  if ARGV[b + 9] ~= '' then due = tonumber(ARGV[b + 9])\n"
    "  elseif ARGV[b + 10] ~= '' then due = redis_now() + tonumber(ARGV[b + 10]) end\n"
    "  out[(b - 7) / S + 2] = create(id, q, h, due)\n"
    "  if ARGV[b + 13] ~= '' then\n"
    "    redis.call('SET', P .. 'idem:' .. ARGV[b + 13], id .. ' ' .. ARGV[b + 14], 'EX', idttl)\n"
    "  end\n"
    "  out[1] = out[1] + 1\n"
    "end\n"
    "return out\n";

static const char cancel_lua[] = LUA_PRELUDE
    "local id, now, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
    "local jk = jobkey(id)\n"
    "local st = redis.call('HGET', jk, 'state')\n"
    "if not st then return 0 end\n"
    "if st ~= 'queued' and st ~= 'scheduled' then return st end\n"
    "local q = redis.call('HGET', jk, 'queue')\n"
    "if st == 'queued' then redis.call('LREM', P .. 'q:' .. q, 0, id) else unschedule(id, q) end\n"
    "redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', now)\n"
    "redis.call('EXPIRE', jk, ttl)\n"
    "notify(jk, id)\n"
    "return 1\n";

static const char watch_lua[] = LUA_PRELUDE
    "local id, api = ARGV[2], ARGV[3]\n"
    "local jk = jobkey(id)\n"
    "local st = redis.call('HGET', jk, 'state')\n"
    "if not st then return {} end\n"
    "if st == 'queued' or st == 'running' or st == 'scheduled' then\n"
    "  local n = redis.call('HGET', jk, 'notify') or ''\n"
    "  if not string.find(' ' .. n .. ' ', ' ' .. api .. ' ', 1, true) then\n"
    "    if n == '' then n = api else n = n .. ' ' .. api end\n"
    "    redis.call('HSET', jk, 'notify', n)\n"
    "  end\n"
    "end\n"
    "return redis.call('HGETALL', jk)\n";

static const char start_lua[] = LUA_PRELUDE LUA_START
    "return start(ARGV[2], ARGV[3], ARGV[4])\n";

static const char finish_lua[] = LUA_PRELUDE LUA_FINISH LUA_BEGIN
    "local done = finish(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8],\n"
    "  ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15])\n"
    "begin(ARGV[3], ARGV[16], ARGV[4])\n"
    "return done\n";

static const char take_lua[] = LUA_PRELUDE LUA_TAKE
    "return take(ARGV[2], ARGV[3], 5, tonumber(ARGV[4]) or 1, {})\n";

static const char finish_take_lua[] = LUA_PRELUDE LUA_FINISH LUA_TAKE
    "local done = finish(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7],\n"
    "  ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15])\n"
    "return take(ARGV[3], ARGV[4], 18, tonumber(ARGV[17]) or 1, {done})\n";

/* Hands jobs that worker ARGV[2] took ahead (prefetched) but did not run
 * back to the front of their queues, in the order taken, as if never
 * taken: out of its wip list, queued, the attempt START counted undone.
 * A job no longer running by the worker at that attempt is only taken out
 * of the wip list. */
static const char untake_lua[] = LUA_PRELUDE
    "local w, back = ARGV[2], 0\n"
    "local wip = P .. 'wip:' .. w\n"
    "for i = #ARGV - 1, 3, -2 do\n"
    "  local id, run = ARGV[i], ARGV[i + 1]\n"
    "  local jk = jobkey(id)\n"
    "  local f = redis.call('HMGET', jk, 'state', 'worker', 'attempts', 'queue', 'held')\n"
    "  local ours = f[1] == 'running' and f[2] == w and f[3] == run\n"
    "  if (not ours or f[5]) and redis.call('LREM', wip, 0, id) > 0 then\n"
    "    if ours and f[4] then\n"
    "      redis.call('HSET', jk, 'state', 'queued', 'attempts', tostring(math.max(0, tonumber(run) - 1)))\n"
    "      redis.call('HDEL', jk, 'started_at', 'held')\n"
    "      redis.call('RPUSH', P .. 'q:' .. f[4], id)\n"
    "      redis.call('SADD', P .. 'queues', f[4])\n"
    "      back = back + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return back\n";

/* A worker's end: unless it lives on (ARGV[7] 'alive': a reconnect), its
 * record becomes P..'workers:dead:'..w with ended_at, reason and its last
 * heartbeat_at (µs), kept DEAD_WORKER_KEEP_S, and w is added to
 * P..'workers:dead' scored by ended_at, which keeps the last
 * DEAD_WORKERS_MAX. (Not 'worker:dead:'..w: a worker's id may begin with
 * "dead:".) */
#define DEAD_WORKER_KEEP_S "3600"
#define DEAD_WORKERS_MAX "100"
static const char recover_lua[] = LUA_PRELUDE
    "local w, now, ttl, maxhb, reason = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]\n"
    "local hb = redis.call('ZSCORE', P .. 'workers', w)\n"
    "if hb and tonumber(hb) > maxhb then return -1 end\n"
    "local wip = P .. 'wip:' .. w\n"
    "local requeued, dead = 0, 0\n"
    "while true do\n"
    "  local id = redis.call('RPOP', wip)\n"
    "  if not id then break end\n"
    "  local jk = jobkey(id)\n"
    "  local f = redis.call('HMGET', jk, 'state', 'queue', 'attempts', 'max_attempts', 'started_at', 'history',\n"
    "    'held')\n"
    "  local st, q = f[1], f[2]\n"
    "  if st == 'running' and f[7] then\n"
    "    -- held behind another run, never begun: back as it was, the attempt not counted\n"
    "    redis.call('HSET', jk, 'state', 'queued', 'attempts', tostring(math.max(0, tonumber(f[3] or '1') - 1)))\n"
    "    redis.call('HDEL', jk, 'held', 'started_at')\n"
    "    st = 'held'\n"
    "  elseif st == 'running' then\n"
    "    redis.call('HSET', jk, 'history', history(f[6], f[3], w, 'lost', reason, f[5], now))\n"
    "  end\n"
    "  if st == 'running' and tonumber(f[3] or 0) >= tonumber(f[4] or 1) then\n"
    "    redis.call('HSET', jk, 'state', 'dead', 'finished_at', now,\n"
    "      'error', reason .. ' (attempt ' .. f[3] .. ' of ' .. f[4] .. ')')\n"
    "    redis.call('LPUSH', P .. 'dead:' .. q, id)\n"
    "    redis.call('SADD', P .. 'queues', q)\n"
    "    redis.call('EXPIRE', jk, ttl)\n"
    "    notify(jk, id)\n"
    "    flow('out', q, 1)\n"
    "    dead = dead + 1\n"
    "  elseif st == 'running' or st == 'queued' or st == 'held' then\n"
    "    redis.call('HSET', jk, 'state', 'queued')\n"
    "    if st ~= 'held' then redis.call('HSET', jk, 'error', reason) end\n"
    "    redis.call('RPUSH', P .. 'q:' .. q, id)\n"
    "    redis.call('SADD', P .. 'queues', q)\n"
    "    requeued = requeued + 1\n"
    "  end\n"
    "end\n"
    "redis.call('ZREM', P .. 'workers', w)\n"
    "local wk, dk, zd = P .. 'worker:' .. w, P .. 'workers:dead:' .. w, P .. 'workers:dead'\n"
    "if ARGV[7] ~= 'alive' and redis.call('EXISTS', wk) == 1 then\n"
    "  redis.call('HSET', wk, 'ended_at', now, 'reason', reason)\n"
    "  if hb then redis.call('HSET', wk, 'heartbeat_at', us(tonumber(hb) * 1000)) end\n"
    "  redis.call('RENAME', wk, dk)\n"
    "  redis.call('EXPIRE', dk, " DEAD_WORKER_KEEP_S ")\n"
    "  redis.call('ZADD', zd, now, w)\n"
    "  redis.call('ZREMRANGEBYRANK', zd, 0, -" DEAD_WORKERS_MAX " - 1)\n"
    "  redis.call('ZREMRANGEBYSCORE', zd, '-inf', '(' .. us(tonumber(now) - " DEAD_WORKER_KEEP_S " * 1000000))\n"
    "  redis.call('EXPIRE', zd, " DEAD_WORKER_KEEP_S ")\n"
    "elseif ARGV[7] == 'alive' then\n"
    "  redis.call('HDEL', wk, 'job', 'job_task', 'job_since')\n"
    "end\n"
    "return {requeued, dead}\n";

static const char queues_lua[] = LUA_PRELUDE LUA_QUEUE_LOOK
    "local now, lease = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local alive = redis.call('ZCOUNT', P .. 'workers', now - lease, '+inf')\n"
    "local inprog = {}\n"
    "for _, w in ipairs(redis.call('ZRANGE', P .. 'workers', 0, -1)) do\n"
    "  for _, id in ipairs(redis.call('LRANGE', P .. 'wip:' .. w, 0, -1)) do\n"
    "    local q = redis.call('HGET', jobkey(id), 'queue')\n"
    "    if q then inprog[q] = (inprog[q] or 0) + 1 end\n"
    "  end\n"
    "end\n"
    "local flows = {}\n"
    "local sec = math.floor(redis_now() / 1000000)\n"
    "for t = sec - " FLOW_WINDOW_S ", sec - 1 do\n"
    "  local h = redis.call('HGETALL', P .. 'stats:' .. t)\n"
    "  for i = 1, #h, 2 do flows[h[i]] = (flows[h[i]] or 0) + (tonumber(h[i + 1]) or 0) end\n"
    "end\n"
    "local out = {alive}\n"
    "local function row(q, depth, running, dead, sched)\n"
    "  for _, v in ipairs({q, depth, running, dead, sched, flows['in:' .. q] or 0, flows['out:' .. q] or 0}) do\n"
    "    out[#out + 1] = v end\n"
    "end\n"
    "local names = redis.call('SMEMBERS', P .. 'queues')\n"
    "table.sort(names)\n"
    "local seen = {}\n"
    "for _, q in ipairs(names) do\n"
    "  local depth, dead, sched, gone = queue_look(q, now)\n"
    "  if not gone or inprog[q] then\n"
    "    seen[q] = true\n"
    "    row(q, depth, inprog[q] or 0, dead, sched)\n"
    "  end\n"
    "end\n"
    "for q, c in pairs(inprog) do\n"
    "  if not seen[q] then row(q, 0, c, 0, 0) end\n"
    "end\n"
    "return out\n";

/* What GET /workers shows, read in one step. ARGV: prefix, limit. Replies
 * {registered workers (at most limit, the latest heartbeats, by id): per
 * worker {id, heartbeat_ms, HGETALL of its record}; the dead ones kept in
 * P..'workers:dead' (newest first, at most limit): per worker {id,
 * HGETALL of P..'workers:dead:'..id} (expired ones skipped)}. */
static const char workers_lua[] = LUA_PRELUDE
    "local limit = tonumber(ARGV[2])\n"
    "local live, dead = {}, {}\n"
    "local z = redis.call('ZREVRANGE', P .. 'workers', 0, limit - 1, 'WITHSCORES')\n"
    "for i = 1, #z, 2 do\n"
    "  live[#live + 1] = {z[i], z[i + 1], redis.call('HGETALL', P .. 'worker:' .. z[i])}\n"
    "end\n"
    "table.sort(live, function(a, b) return a[1] < b[1] end)\n"
    "for _, w in ipairs(redis.call('ZREVRANGE', P .. 'workers:dead', 0, limit - 1)) do\n"
    "  local h = redis.call('HGETALL', P .. 'workers:dead:' .. w)\n"
    "  if #h > 0 then dead[#dead + 1] = {w, h} end\n"
    "end\n"
    "return {live, dead}\n";

/* A queue's dead jobs, newest first. ARGV: prefix, queue, limit. Replies
 * {LLEN of dead:{queue}, then the HGETALL of each of its first limit ids
 * (one whose hash expired is skipped)}. */
static const char dead_list_lua[] = LUA_PRELUDE
    "local dk = P .. 'dead:' .. ARGV[2]\n"
    "local out = {redis.call('LLEN', dk)}\n"
    "for _, id in ipairs(redis.call('LRANGE', dk, 0, tonumber(ARGV[3]) - 1)) do\n"
    "  local h = redis.call('HGETALL', jobkey(id))\n"
    "  if #h > 0 then out[#out + 1] = h end\n"
    "end\n"
    "return out\n";

/* The movers' step: every scheduled job due by Redis's clock (at most
 * ARGV[2] of them) goes to the back of its queue as queued, with
 * promoted_at; ids of jobs no longer scheduled (cancelled) are dropped.
 * Replies {moved, taken, now, next job due or '', next tick due or '',
 * then per due schedule (at most 100): name, tick, cron}, times in Unix µs;
 * taken = ids taken out, so taken == limit means more may be due. */
static const char promote_lua[] = LUA_PRELUDE
    "local limit = tonumber(ARGV[2])\n"
    "local now = redis_now()\n"
    "local sk = P .. 'scheduled'\n"
    "local ids = redis.call('ZRANGEBYSCORE', sk, '-inf', us(now), 'LIMIT', 0, limit)\n"
    "local moved = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  local jk = jobkey(id)\n"
    "  local f = redis.call('HMGET', jk, 'state', 'queue', 'attempts')\n"
    "  if f[2] then unschedule(id, f[2]) else redis.call('ZREM', sk, id) end\n"
    "  if f[1] == 'scheduled' and f[2] then\n"
    "    redis.call('HSET', jk, 'state', 'queued', 'promoted_at', us(now))\n"
    "    redis.call('LPUSH', P .. 'q:' .. f[2], id)\n"
    "    redis.call('SADD', P .. 'queues', f[2])\n"
    "    if (tonumber(f[3]) or 0) == 0 then flow('in', f[2], 1) end\n"
    "    moved = moved + 1\n"
    "  end\n"
    "end\n"
    "local nj = redis.call('ZRANGE', sk, 0, 0, 'WITHSCORES')\n"
    "local zs = P .. 'schedules'\n"
    "local ns = redis.call('ZRANGE', zs, 0, 0, 'WITHSCORES')\n"
    "local nt = tonumber(ns[2] or '')\n"
    "if nt and nt == math.huge then nt = nil end\n"
    "local out = {moved, #ids, us(now), nj[2] and us(tonumber(nj[2])) or '', nt and us(nt) or ''}\n"
    "if nt and nt <= now then\n"
    "  local due = redis.call('ZRANGEBYSCORE', zs, '-inf', us(now), 'WITHSCORES', 'LIMIT', 0, 100)\n"
    "  for i = 1, #due, 2 do\n"
    "    out[#out + 1] = due[i]; out[#out + 1] = us(tonumber(due[i + 1]))\n"
    "    out[#out + 1] = redis.call('HGET', P .. 'schedule:' .. due[i], 'cron') or ''\n"
    "  end\n"
    "end\n"
    "return out\n";

/* One tick of schedule ARGV[2], claimed by compare-and-set: when its next
 * tick is still ARGV[3] (µs), makes job ARGV[5] from the schedule's
 * template, queued now, and moves the schedule to its next tick ARGV[4]
 * (+inf, never, when ARGV[4] is ''). Replies 1 when
 * this call made the tick's job, 0 when another mover did (or the
 * schedule changed or went). ARGV: prefix, name, tick_us, next_us, id, now_us. */
static const char tick_lua[] = LUA_PRELUDE LUA_CREATE
    "local name, tick, nxt, id, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]\n"
    "local zs, sk = P .. 'schedules', P .. 'schedule:' .. ARGV[2]\n"
    "local cur = redis.call('ZSCORE', zs, name)\n"
    "if not cur or us(tonumber(cur)) ~= tick then return 0 end\n"
    "local s = redis.call('HMGET', sk, 'queue', 'task', 'args', 'max_attempts', 'timeout_ms',\n"
    "  'backoff_base_ms', 'backoff_max_ms', 'ms', 'payload')\n"
    "if not s[1] or not s[2] then redis.call('ZREM', zs, name); return 0 end\n"
    "local h = {'id', id, 'state', 'queued', 'queue', s[1], 'task', s[2],\n"
    "  'max_attempts', s[4] or '1', 'attempts', '0', 'created_at', now, 'schedule', name, 'tick', tick}\n"
    "local opt = {[3] = 'args', [5] = 'timeout_ms', [6] = 'backoff_base_ms', [7] = 'backoff_max_ms',\n"
    "  [8] = 'ms', [9] = 'payload'}\n"
    "for k, f in pairs(opt) do if s[k] and s[k] ~= '' then h[#h + 1] = f; h[#h + 1] = s[k] end end\n"
    "create(id, s[1], h, nil)\n"
    "redis.call('ZADD', zs, nxt ~= '' and nxt or '+inf', name)\n"
    "redis.call('HSET', sk, 'last_tick', tick, 'last_job', id, 'next_tick', nxt)\n"
    "return 1\n";

/* Periodic schedules: P..'schedule:'..name holds the template of its jobs
 * and its times, P..'schedules' every name scored by its next tick (µs;
 * +inf when it will not fire again). set: ARGV prefix, name, first tick,
 * now, max schedules, then field/value pairs; replaces the whole template
 * (created_at kept), wakes the movers when the tick is the earliest, and
 * replies {1 made | 0 replaced, HGETALL} or the error "SCHEDULES <max>". */
static const char schedule_set_lua[] = LUA_PRELUDE
    "local name, tick, now, maxs = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])\n"
    "local sk, zs = P .. 'schedule:' .. name, P .. 'schedules'\n"
    "local created = redis.call('HGET', sk, 'created_at')\n"
    "if not created and redis.call('ZCARD', zs) >= maxs then return redis.error_reply('SCHEDULES ' .. maxs) end\n"
    "redis.call('DEL', sk)\n"
    "local h = {'name', name, 'created_at', created or now, 'updated_at', now, 'next_tick', tick}\n"
    "for i = 6, #ARGV, 2 do h[#h + 1] = ARGV[i]; h[#h + 1] = ARGV[i + 1] end\n"
    "redis.call('HSET', sk, unpack(h))\n"
    "local first = redis.call('ZRANGE', zs, 0, 0, 'WITHSCORES')\n"
    "redis.call('ZADD', zs, tick, name)\n"
    "if not first[2] or tonumber(tick) < tonumber(first[2]) then redis.call('PUBLISH', P .. 'sched', tick) end\n"
    "return {created and 0 or 1, redis.call('HGETALL', sk)}\n";

/* ARGV prefix, name ('' for every schedule, in name order). Replies a list
 * of HGETALLs (empty when the name is unknown). */
static const char schedule_get_lua[] = LUA_PRELUDE
    "local names = {ARGV[2]}\n"
    "if ARGV[2] == '' then names = redis.call('ZRANGE', P .. 'schedules', 0, -1); table.sort(names) end\n"
    "local out = {}\n"
    "for _, n in ipairs(names) do\n"
    "  local h = redis.call('HGETALL', P .. 'schedule:' .. n)\n"
    "  if #h > 0 then out[#out + 1] = h end\n"
    "end\n"
    "return out\n";

/* ARGV prefix, name. Replies 1 deleted, 0 unknown. Jobs already made stay. */
static const char schedule_del_lua[] = LUA_PRELUDE
    "redis.call('ZREM', P .. 'schedules', ARGV[2])\n"
    "return redis.call('DEL', P .. 'schedule:' .. ARGV[2])\n";

/* Operators' hands on a dead list, a bounded batch per call so a long list
 * never stalls Redis: the caller calls again while `left` > 0. ARGV:
 * prefix, queue, limit, then ids ('' none: the oldest `limit` of the list).
 * retry: each dead job still there goes to the back of its queue, queued,
 * with a fresh set of attempts and no expiry (its history is kept);
 * purge: each is deleted. Reply {done, left, then ids not on the list}. */
#define LUA_DEAD_PICK \
    "local q, limit = ARGV[2], tonumber(ARGV[3])\n" \
    "local dk = P .. 'dead:' .. q\n" \
    "local ids, missing = {}, {}\n" \
    "if #ARGV > 3 then\n" \
    "  local seen = {}\n" \
    "  for i = 4, #ARGV do if not seen[ARGV[i]] then seen[ARGV[i]] = true; ids[#ids + 1] = ARGV[i] end end\n" \
    "else ids = redis.call('LRANGE', dk, -limit, -1) end\n"

static const char dead_retry_lua[] = LUA_PRELUDE LUA_DEAD_PICK
    "local done = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  local jk = jobkey(id)\n"
    "  if redis.call('LREM', dk, 0, id) == 0 then missing[#missing + 1] = id\n"
    "  elseif redis.call('HGET', jk, 'state') == 'dead' then\n"
    "    redis.call('HSET', jk, 'state', 'queued', 'attempts', '0')\n"
    "    redis.call('HDEL', jk, 'finished_at', 'held')\n"
    "    redis.call('PERSIST', jk)\n"
    "    redis.call('LPUSH', P .. 'q:' .. q, id)\n"
    "    redis.call('SADD', P .. 'queues', q)\n"
    "    done = done + 1\n"
    "  end\n"
    "end\n"
    "flow('in', q, done)\n"
    "local out = {done, #ARGV > 3 and 0 or redis.call('LLEN', dk)}\n"
    "for _, id in ipairs(missing) do out[#out + 1] = id end\n"
    "return out\n";

static const char dead_purge_lua[] = LUA_PRELUDE LUA_DEAD_PICK
    "local done = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  if redis.call('LREM', dk, 0, id) == 0 then missing[#missing + 1] = id\n"
    "  else redis.call('DEL', jobkey(id)); done = done + 1 end\n"
    "end\n"
    "local out = {done, #ARGV > 3 and 0 or redis.call('LLEN', dk)}\n"
    "for _, id in ipairs(missing) do out[#out + 1] = id end\n"
    "return out\n";

static const struct {
    const char *name;
    const char *source;
} scripts[SCRIPT_COUNT] = {
    [SCRIPT_ENQUEUE] = {"enqueue", enqueue_lua},
    [SCRIPT_CANCEL] = {"cancel", cancel_lua},
    [SCRIPT_WATCH] = {"watch", watch_lua},
    [SCRIPT_START] = {"start", start_lua},
    [SCRIPT_FINISH] = {"finish", finish_lua},
    [SCRIPT_RECOVER] = {"recover", recover_lua},
    [SCRIPT_QUEUES] = {"queues", queues_lua},
    [SCRIPT_TAKE] = {"take", take_lua},
    [SCRIPT_FINISH_TAKE] = {"finish_take", finish_take_lua},
    [SCRIPT_PROMOTE] = {"promote", promote_lua},
    [SCRIPT_TICK] = {"tick", tick_lua},
    [SCRIPT_DEAD_RETRY] = {"dead_retry", dead_retry_lua},
    [SCRIPT_DEAD_PURGE] = {"dead_purge", dead_purge_lua},
    [SCRIPT_SCHEDULE_SET] = {"schedule_set", schedule_set_lua},
    [SCRIPT_SCHEDULE_GET] = {"schedule_get", schedule_get_lua},
    [SCRIPT_SCHEDULE_DEL] = {"schedule_del", schedule_del_lua},
    [SCRIPT_WORKERS] = {"workers", workers_lua},
    [SCRIPT_DEAD_LIST] = {"dead_list", dead_list_lua},
    [SCRIPT_UNTAKE] = {"untake", untake_lua},
};

const char *script_source(enum script_id id)
{
    return (unsigned)id < SCRIPT_COUNT ? scripts[id].source : NULL;
}

const char *script_name(enum script_id id)
{
    return (unsigned)id < SCRIPT_COUNT ? scripts[id].name : "unknown";
}
