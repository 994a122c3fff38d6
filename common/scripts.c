#include "common/scripts.h"

/* Shared preamble: key helpers and notify publishing. publish() sends the
 * id to every API named in a notify value; notify() reads that value first. */
#define LUA_PRELUDE \
    "local P = ARGV[1]\n" \
    "local function jobkey(id) return P .. 'job:' .. id end\n" \
    "local function publish(apis, id)\n" \
    "  if apis then for api in string.gmatch(apis, '%S+') do\n" \
    "    redis.call('PUBLISH', P .. 'done:' .. api, id) end end\n" \
    "end\n" \
    "local function notify(jk, id) publish(redis.call('HGET', jk, 'notify'), id) end\n"

/* The START step for an id already in worker w's wip list: a queued job
 * becomes running by w with attempts+1, and {ms, payload, attempts,
 * max_attempts, task, args, timeout_ms, queue} is returned ('' for what the
 * job lacks); anything else (gone, cancelled, finished) is dropped from the
 * wip list and nil is returned. */
#define LUA_START \
    "local function start(id, w, now)\n" \
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
    "  return {f[2] or '', f[3] or '', a, f[4] or '1', f[8] or 'burn', f[9] or '', f[10] or '',\n" \
    "    f[11] or ''}\n" \
    "end\n"

/* Takes the next queued job for worker w from the queues named in
 * ARGV[first..]: LMOVE into its wip list (reliable fetch), then the START
 * step. Ids of jobs cancelled or gone meanwhile are dropped on the way.
 * Returns {id} followed by START's fields, or nil. */
#define LUA_TAKE LUA_START \
    "local function take(w, now, first)\n" \
    "  local wip = P .. 'wip:' .. w\n" \
    "  for i = first, #ARGV do\n" \
    "    while true do\n" \
    "      local id = redis.call('LMOVE', P .. 'q:' .. ARGV[i], wip, 'RIGHT', 'LEFT')\n" \
    "      if not id then break end\n" \
    "      local s = start(id, w, now)\n" \
    "      if s then table.insert(s, 1, id); return s end\n" \
    "    end\n" \
    "  end\n" \
    "  return nil\n" \
    "end\n"

/* The FINISH step as a function: 1 stored, 0 ignored (already terminal), 2
 * dropped: the run is not the job's current one (fencing: the job was
 * recovered from w — put back on its queue, or started again elsewhere,
 * which the attempt number `run` tells even when the same worker took it).
 * st is done, failed, retry: a run that ended like a crash (no handler, a
 * coprocess that died), which puts the job at the back of its queue while
 * attempts remain and makes it dead after the last, or requeue: a run that
 * never reached its task (back, the attempt not counted). Empty arguments store
 * nothing: digest..wall are burn's, res/rkind a user task's output. */
#define LUA_FINISH \
    "local function finish(id, w, now, ttl, st, digest, iters, cpu, wall, err, res, rkind, run)\n" \
    "  local jk = jobkey(id)\n" \
    "  redis.call('LREM', P .. 'wip:' .. w, 0, id)\n" \
    "  local f = redis.call('HMGET', jk, 'state', 'queue', 'notify', 'attempts', 'max_attempts',\n" \
    "    'worker')\n" \
    "  local cur = f[1]\n" \
    "  if not cur or (cur ~= 'queued' and cur ~= 'running') then return 0 end\n" \
    "  if cur ~= 'running' or f[6] ~= w or (run ~= '' and f[4] ~= run) then return 2 end\n" \
    "  if not f[2] then st = 'failed'; err = 'malformed job: no queue' end\n" \
    "  if st == 'requeue' then\n" \
    "    redis.call('HSET', jk, 'state', 'queued', 'error', err,\n" \
    "      'attempts', tostring(math.max(0, tonumber(f[4] or '1') - 1)))\n" \
    "    redis.call('LPUSH', P .. 'q:' .. f[2], id)\n" \
    "    redis.call('SADD', P .. 'queues', f[2])\n" \
    "    return 1\n" \
    "  end\n" \
    "  if st == 'retry' then\n" \
    "    local a, m = f[4] or '0', f[5] or '1'\n" \
    "    if tonumber(a) < tonumber(m) then\n" \
    "      redis.call('HSET', jk, 'state', 'queued', 'error', err)\n" \
    "      redis.call('LPUSH', P .. 'q:' .. f[2], id)\n" \
    "      redis.call('SADD', P .. 'queues', f[2])\n" \
    "      return 1\n" \
    "    end\n" \
    "    st = 'dead'\n" \
    "    err = err .. ' (attempt ' .. a .. ' of ' .. m .. ')'\n" \
    "    redis.call('LPUSH', P .. 'dead:' .. f[2], id)\n" \
    "    redis.call('SADD', P .. 'queues', f[2])\n" \
    "  end\n" \
    "  local h = {'state', st, 'finished_at', now, 'worker', w}\n" \
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

/* The registry of queue names (P..'queues') is bounded: a queue with no
 * job queued and none dead for QUEUE_FORGET_MS is forgotten (its running
 * jobs still show, found through the workers' wip lists, and every script
 * that puts a job back on a queue or on its dead list registers the queue
 * again). queue_look(q,
 * now_ms) returns depth, dead and whether q was just forgotten; the first
 * time q is seen empty is kept in P..'queues:empty'. */
#define QUEUE_FORGET_MS "60000"
#define LUA_QUEUE_LOOK \
    "local function queue_look(q, now_ms)\n" \
    "  local depth = redis.call('LLEN', P .. 'q:' .. q)\n" \
    "  local dead = redis.call('LLEN', P .. 'dead:' .. q)\n" \
    "  local ek = P .. 'queues:empty'\n" \
    "  if depth + dead > 0 then redis.call('HDEL', ek, q); return depth, dead, false end\n" \
    "  local since = tonumber(redis.call('HGET', ek, q))\n" \
    "  if not since then redis.call('HSET', ek, q, now_ms); return 0, 0, false end\n" \
    "  if now_ms - since < " QUEUE_FORGET_MS " then return 0, 0, false end\n" \
    "  redis.call('SREM', P .. 'queues', q); redis.call('HDEL', ek, q)\n" \
    "  return 0, 0, true\n" \
    "end\n"

/* A registry at max_queues is swept for forgettable queues at most once a
 * second (P..'queues:swept'), so a flood of new names costs Redis one walk
 * of the registry a second, not one per request.
 * ARGV: prefix, max queue length, now, n, then per job (ENQUEUE_STRIDE):
 * id, queue, ms, payload, max_attempts, notify, task, args, timeout_ms;
 * then, optionally, the most distinct queue names (none: unbounded).
 * Empty optional values are not stored. */
static const char enqueue_lua[] = LUA_PRELUDE LUA_QUEUE_LOOK
    "local maxq, now, n = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])\n"
    "local maxqs = tonumber(ARGV[5 + n * 9])\n"
    "local want, new = {}, 0\n"
    "for i = 0, n - 1 do local q = ARGV[5 + i * 9 + 1]; want[q] = (want[q] or 0) + 1 end\n"
    "for q, c in pairs(want) do\n"
    "  if redis.call('LLEN', P .. 'q:' .. q) + c > maxq then\n"
    "    return redis.error_reply('FULL ' .. q) end\n"
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
    "local opt = {[2] = 'ms', [3] = 'payload', [5] = 'notify', [7] = 'args', [8] = 'timeout_ms'}\n"
    "for i = 0, n - 1 do\n"
    "  local b = 5 + i * 9\n"
    "  local id, q = ARGV[b], ARGV[b + 1]\n"
    "  local h = {'id', id, 'state', 'queued', 'queue', q, 'task', ARGV[b + 6],\n"
    "    'max_attempts', ARGV[b + 4], 'attempts', '0', 'created_at', now}\n"
    "  for k = 2, 8 do\n"
    "    local name, v = opt[k], ARGV[b + k]\n"
    "    if name and v ~= '' then h[#h + 1] = name; h[#h + 1] = v end\n"
    "  end\n"
    "  redis.call('HSET', jobkey(id), unpack(h))\n"
    "  redis.call('LPUSH', P .. 'q:' .. q, id)\n"
    "  redis.call('SADD', P .. 'queues', q)\n"
    "end\n"
    "return n\n";

static const char cancel_lua[] = LUA_PRELUDE
    "local id, now, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
    "local jk = jobkey(id)\n"
    "local st = redis.call('HGET', jk, 'state')\n"
    "if not st then return 0 end\n"
    "if st ~= 'queued' then return st end\n"
    "local q = redis.call('HGET', jk, 'queue')\n"
    "redis.call('LREM', P .. 'q:' .. q, 0, id)\n"
    "redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', now)\n"
    "redis.call('EXPIRE', jk, ttl)\n"
    "notify(jk, id)\n"
    "return 1\n";

static const char watch_lua[] = LUA_PRELUDE
    "local id, api = ARGV[2], ARGV[3]\n"
    "local jk = jobkey(id)\n"
    "local st = redis.call('HGET', jk, 'state')\n"
    "if not st then return {} end\n"
    "if st == 'queued' or st == 'running' then\n"
    "  local n = redis.call('HGET', jk, 'notify') or ''\n"
    "  if not string.find(' ' .. n .. ' ', ' ' .. api .. ' ', 1, true) then\n"
    "    if n == '' then n = api else n = n .. ' ' .. api end\n"
    "    redis.call('HSET', jk, 'notify', n)\n"
    "  end\n"
    "end\n"
    "return redis.call('HGETALL', jk)\n";

static const char start_lua[] = LUA_PRELUDE LUA_START
    "return start(ARGV[2], ARGV[3], ARGV[4])\n";

static const char finish_lua[] = LUA_PRELUDE LUA_FINISH
    "return finish(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8],\n"
    "  ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14])\n";

static const char take_lua[] = LUA_PRELUDE LUA_TAKE
    "return take(ARGV[2], ARGV[3], 4)\n";

static const char finish_take_lua[] = LUA_PRELUDE LUA_FINISH LUA_TAKE
    "local done = finish(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7],\n"
    "  ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14])\n"
    "local nxt = take(ARGV[3], ARGV[4], 15)\n"
    "if not nxt then return {done} end\n"
    "table.insert(nxt, 1, done)\n"
    "return nxt\n";

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
    "  local f = redis.call('HMGET', jk, 'state', 'queue', 'attempts', 'max_attempts')\n"
    "  local st, q = f[1], f[2]\n"
    "  if st == 'running' and tonumber(f[3] or 0) >= tonumber(f[4] or 1) then\n"
    "    redis.call('HSET', jk, 'state', 'dead', 'finished_at', now,\n"
    "      'error', reason .. ' (attempt ' .. f[3] .. ' of ' .. f[4] .. ')')\n"
    "    redis.call('LPUSH', P .. 'dead:' .. q, id)\n"
    "    redis.call('SADD', P .. 'queues', q)\n"
    "    redis.call('EXPIRE', jk, ttl)\n"
    "    notify(jk, id)\n"
    "    dead = dead + 1\n"
    "  elseif st == 'running' or st == 'queued' then\n"
    "    redis.call('HSET', jk, 'state', 'queued')\n"
    "    redis.call('HSET', jk, 'error', reason)\n"
    "    redis.call('RPUSH', P .. 'q:' .. q, id)\n"
    "    redis.call('SADD', P .. 'queues', q)\n"
    "    requeued = requeued + 1\n"
    "  end\n"
    "end\n"
    "redis.call('ZREM', P .. 'workers', w)\n"
    "redis.call('DEL', P .. 'worker:' .. w)\n"
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
    "local out = {alive}\n"
    "local names = redis.call('SMEMBERS', P .. 'queues')\n"
    "table.sort(names)\n"
    "local seen = {}\n"
    "for _, q in ipairs(names) do\n"
    "  local depth, dead, gone = queue_look(q, now)\n"
    "  if not gone or inprog[q] then\n"
    "    seen[q] = true\n"
    "    out[#out + 1] = q; out[#out + 1] = depth; out[#out + 1] = inprog[q] or 0; out[#out + 1] = dead\n"
    "  end\n"
    "end\n"
    "for q, c in pairs(inprog) do\n"
    "  if not seen[q] then out[#out + 1] = q; out[#out + 1] = 0; out[#out + 1] = c; out[#out + 1] = 0 end\n"
    "end\n"
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
};

const char *script_source(enum script_id id)
{
    return (unsigned)id < SCRIPT_COUNT ? scripts[id].source : NULL;
}

const char *script_name(enum script_id id)
{
    return (unsigned)id < SCRIPT_COUNT ? scripts[id].name : "unknown";
}
