"""The queue's server-side Lua scripts: every state change is one atomic script.

Each script reads the server clock (TIME), so workers need no synchronised clocks,
and publishes the JobEvent of the change it makes in the same step. Job hashes and
streams are derived from the key prefix passed in ``ARGV`` (they share the queue's
hash tag, so a cluster routes them with the declared keys).

Job hash fields: task, state, priority, attempt (runs that count against the retry
budget), deliveries (every start, the fencing token), enqueued_at, started_at,
finished_at (ms), entry (the stream entry id while queued or running), payload (while
delayed), result, error_type, error_message, progress, message, abort, owner, unique,
tp (the enqueuer's W3C traceparent, when it had one).
Stream entry fields: id (job id), t (task), p (payload JSON), and n (new: the job was
never started, so a worker reading it knows what its claim will make of it and starts
it at once; the value is the traceparent, '' for none) on the entries of fresh jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..redis._errors import RedisResponseError
from ..redis._scripts import Script

if TYPE_CHECKING:
    from ..redis import RedisService
    from ..redis._protocol import Arg

__all__ = (
    "ABORT",
    "CLAIM",
    "COMPLETE",
    "ENQUEUE",
    "HEALTH",
    "HEARTBEAT",
    "PROBE",
    "PROGRESS",
    "REQUEUE_DEAD",
    "TICK",
    "run",
)


async def run(redis: RedisService, script: Script, keys: list[str], args: list[Arg]) -> Any:
    """EVALSHA ``script``; load it first if the server does not know it yet."""
    try:
        return await redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except RedisResponseError as exc:
        if exc.code != "NOSCRIPT":
            raise
    await redis.execute_command("SCRIPT", "LOAD", script.source)
    return await redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)


_COMMON = """
local ACTIVE = {queued = true, delayed = true, running = true}
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function emit(channel, id, task, state, attempt, now, err, progress, message)
  local event = {job_id = id, task = task, state = state, attempt = attempt, at = now / 1000}
  if err then event['error'] = err end
  if progress then event['progress'] = progress end
  if message then event['message'] = message end
  redis.call('PUBLISH', channel, cjson.encode(event))
end
local function release_unique(prefix, job, id)
  local unique = redis.call('HGET', job, 'unique')
  if unique and unique ~= '' then
    local ukey = prefix .. 'u:' .. unique
    if redis.call('GET', ukey) == id then redis.call('DEL', ukey) end
  end
end
local function finish(prefix, job, id, ttl, now)
  redis.call('HSET', job, 'finished_at', now)
  redis.call('HDEL', job, 'entry', 'payload', 'due', 'owner')
  redis.call('EXPIRE', job, ttl)
  release_unique(prefix, job, id)
end
local function schedule(delayed, id, due, control)
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  redis.call('ZADD', delayed, due, id)
  if (not first[2]) or due < tonumber(first[2]) then redis.call('PUBLISH', control, 'due') end
end
local function bury(dead, prefix, job, id, task, payload, etype, emsg, attempt, now, channel, ttl)
  local priority = redis.call('HGET', job, 'priority') or '0'
  redis.call('XADD', dead, '*', 'id', id, 't', task, 'p', payload, 'pr', priority,
    'et', etype, 'em', emsg, 'a', attempt, 'at', now)
  redis.call('HSET', job, 'state', 'dead', 'error_type', etype, 'error_message', emsg)
  finish(prefix, job, id, ttl, now)
  emit(channel, id, task, 'dead', attempt, now, etype .. ': ' .. emsg)
end
"""


def _script(*body: str) -> Script:
    return Script(_COMMON + "".join(body))


_ENQUEUE = """
local function enqueue(job, id, task, payload, priority, delay, unique, prefix, channels, tp)
  local state = redis.call('HGET', job, 'state')
  if ACTIVE[state] then return {0, id, state} end
  if unique ~= '' then
    local ukey = prefix .. 'u:' .. unique
    local holder = redis.call('GET', ukey)
    if holder then
      local held = redis.call('HGET', prefix .. 'j:' .. holder, 'state')
      if ACTIVE[held] then return {0, holder, held} end
    end
    redis.call('SET', ukey, id)
  end
  local now = now_ms()
  redis.call('DEL', job)
  if delay > 0 then
    local due = now + delay
    redis.call('HSET', job, 'task', task, 'state', 'delayed', 'priority', priority, 'attempt', 0,
      'deliveries', 0, 'enqueued_at', now, 'due', due, 'payload', payload, 'unique', unique)
    schedule(prefix .. 'delayed', id, due, channels .. ':control')
    state = 'delayed'
  else
    local entry = redis.call('XADD', prefix .. 's' .. priority, '*', 'id', id, 't', task,
      'p', payload, 'n', tp)
    redis.call('HSET', job, 'task', task, 'state', 'queued', 'priority', priority, 'attempt', 0,
      'deliveries', 0, 'enqueued_at', now, 'entry', entry, 'unique', unique)
    state = 'queued'
  end
  if tp ~= '' then redis.call('HSET', job, 'tp', tp) end
  emit(channels .. ':job_events', id, task, state, 0, now)
  return {1, id, state}
end
"""

# The stream, the delayed set, the unique key and the channels are derived from the
# prefix and the channels' base (<namespace:>name): fewer arguments to send. Enqueues
# made at the same time go together (one call, jobs in order); one that fails (a key in
# the way holds the wrong type) fails alone.
# KEYS: the jobs; ARGV: prefix, channels, then for each job: id, task, payload,
#   priority, delay_ms, unique, traceparent ('' for none)
# -> for each job {created (0/1), job id (the holder's when deduplicated), state}, or
#   {-1, error message}
ENQUEUE: Final = _script(
    _ENQUEUE,
    """
local replies = {}
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 7
  local ok, reply = pcall(enqueue, KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), ARGV[a + 5], ARGV[1], ARGV[2], ARGV[a + 6])
  if not ok then
    if type(reply) == 'table' and reply.err then reply = reply.err end
    reply = {-1, tostring(reply)}
  end
  replies[i] = reply
end
return replies
""",
)

# Fire one tick of a periodic job: enqueue it unless this tick, or a later one, was
# fired already (by any worker).
# KEYS: job, periodic hash; ARGV: id, task, payload, priority, prefix, channels,
#   schedule name, tick (ms) -> {created (0/1), job id, state} ({0, "", "skipped"})
TICK: Final = _script(
    _ENQUEUE,
    """
local fired = tonumber(redis.call('HGET', KEYS[2], ARGV[7]) or '-1')
if fired >= tonumber(ARGV[8]) then return {0, '', 'skipped'} end
redis.call('HSET', KEYS[2], ARGV[7], ARGV[8])
return enqueue(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 0, '', ARGV[5], ARGV[6], '')
""",
)

# Claim jobs for a consumer and mark them running (aborted, superseded and
# over-delivered entries are acknowledged and deleted on the way).
# KEYS: dead stream, then the ready streams, highest priority first
# ARGV: group, consumer, count, max_deliveries, prefix, events, ttl, mode, ...
#   mode "read":    XREADGROUP the streams in priority order for up to count entries
#   mode "promote": limit; first move up to limit due delayed jobs to their streams
#                   (the delayed set is <prefix>delayed), then "read"
#   mode "reclaim": min_idle_ms, then one XAUTOCLAIM cursor per stream ("0-0" = done)
#   mode "start":   pairs of (stream index, entry id) read by a blocking XREADGROUP; those
#                   beyond count go back to their stream's tail, unstarted
# -> {{{stream index, entry id, job id, task, payload, deliveries, attempt, traceparent},
#   ...}, extra} (traceparent: the enqueuer's, '' when it had none)
#   extra: the cursors ("reclaim"), {moved, next due (ms, "-1" if none), now} ("promote")
CLAIM: Final = _script("""
local dead = KEYS[1]
local group, consumer, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local maxd, prefix, channel = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local ttl, mode = tonumber(ARGV[7]), ARGV[8]
local now = now_ms()
local started = {}
local function ack(stream, eid)
  redis.call('XACK', stream, group, eid)
  redis.call('XDEL', stream, eid)
end
local function start(index, eid, fields)
  local stream = KEYS[index + 1]
  local f = {}
  for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
  local id, task = f['id'], f['t']
  local job = prefix .. 'j:' .. id
  local h = redis.call('HMGET', job, 'state', 'abort', 'deliveries', 'attempt', 'entry', 'tp')
  if h[5] ~= eid or (h[1] ~= 'queued' and h[1] ~= 'running') then
    ack(stream, eid)  -- superseded, finished, or its hash expired
    return
  end
  local attempt = tonumber(h[4])
  if h[2] then
    ack(stream, eid)
    redis.call('HSET', job, 'state', 'aborted', 'error_type', 'JobAborted',
      'error_message', 'aborted before it started')
    finish(prefix, job, id, ttl, now)
    emit(channel, id, task, 'aborted', attempt, now)
    return
  end
  local deliveries = tonumber(h[3]) + 1
  if deliveries > maxd then
    ack(stream, eid)
    bury(dead, prefix, job, id, task, f['p'], 'MaxDeliveriesExceeded',
      'started ' .. (deliveries - 1) .. ' times without finishing', attempt, now, channel, ttl)
    return
  end
  attempt = attempt + 1
  redis.call('HSET', job, 'state', 'running', 'deliveries', deliveries, 'attempt', attempt,
    'started_at', now, 'owner', consumer)
  emit(channel, id, task, 'running', attempt, now)
  started[#started + 1] = {index, eid, id, task, f['p'], deliveries, attempt, h[6] or ''}
end
local function read()
  for i = 2, #KEYS do
    if count <= 0 then break end
    local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count,
      'STREAMS', KEYS[i], '>')
    if r then
      local entries = r[1][2]
      count = count - #entries
      for _, e in ipairs(entries) do start(i - 1, e[1], e[2]) end
    end
  end
end
if mode == 'read' then
  read()
  return {started, {}}
end
if mode == 'promote' then
  local delayed = prefix .. 'delayed'
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, tonumber(ARGV[9]))
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    local job = prefix .. 'j:' .. id
    local h = redis.call('HMGET', job, 'state', 'payload', 'task', 'priority', 'attempt')
    if h[1] == 'delayed' then
      local entry = redis.call('XADD', prefix .. 's' .. h[4], '*', 'id', id, 't', h[3], 'p', h[2])
      redis.call('HSET', job, 'state', 'queued', 'entry', entry)
      redis.call('HDEL', job, 'payload', 'due')
      emit(channel, id, h[3], 'queued', tonumber(h[5]), now)
    end
  end
  read()
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  return {started, {#due, first[2] or '-1', tostring(now)}}
end
if mode == 'reclaim' then
  local cursors = {}
  for i = 2, #KEYS do
    local cursor = ARGV[8 + i]
    if count > 0 and cursor ~= '0-0' then
      local r = redis.call('XAUTOCLAIM', KEYS[i], group, consumer, ARGV[9], cursor, 'COUNT', count)
      cursor = r[1]
      count = count - #r[2]
      for _, e in ipairs(r[2]) do start(i - 1, e[1], e[2]) end
      for _, eid in ipairs(r[3]) do redis.call('XACK', KEYS[i], group, eid) end
    end
    cursors[#cursors + 1] = cursor
  end
  return {started, cursors}
end
local function give_back(stream, eid, fields)
  ack(stream, eid)
  local id = fields[2]  -- XADD wrote 'id' first
  local job = prefix .. 'j:' .. id
  local h = redis.call('HMGET', job, 'state', 'entry')
  if h[1] == 'queued' and h[2] == eid then
    redis.call('HSET', job, 'entry', redis.call('XADD', stream, '*', unpack(fields)))
  end
end
for i = 9, #ARGV, 2 do
  local index, eid = tonumber(ARGV[i]), ARGV[i + 1]
  local r = redis.call('XRANGE', KEYS[index + 1], eid, eid)
  if not r[1] then
    redis.call('XACK', KEYS[index + 1], group, eid)
  elseif #started < count then
    start(index, eid, r[1][2])
  else
    give_back(KEYS[index + 1], eid, r[1][2])
  end
end
return {started, {}}
""")

# Finish runs, each fenced: only the current delivery of a running job may change it.
# KEYS: delayed, dead, then the ready streams, highest priority first
# ARGV: group, ttl, prefix, events, control, then for each run: stream index, entry id,
#   deliveries, outcome, value, delay_ms, error_type, error_message, id, task
#   outcome: succeeded (value = result JSON), failed, aborted, dead (value = payload),
#   retry (value = payload; runs again after delay_ms), release (value = payload;
#   queued again at once, the attempt given back: a graceful shutdown)
# -> for each run 1, or 0 when it was fenced off (another delivery owns the job now)
COMPLETE: Final = _script("""
local group, ttl, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local channel, control = ARGV[4], ARGV[5]
local now = now_ms()
local function complete(stream, eid, deliveries, outcome, value, delay, etype, emsg, id, task)
  local job = prefix .. 'j:' .. id
  local h = redis.call('HMGET', job, 'state', 'deliveries', 'attempt', 'unique')
  if h[1] ~= 'running' or h[2] ~= deliveries then return 0 end
  redis.call('XACK', stream, group, eid)
  redis.call('XDEL', stream, eid)
  local attempt = tonumber(h[3])
  if outcome == 'succeeded' then  -- the common case, in as few calls as it takes
    redis.call('HSET', job, 'state', 'succeeded', 'result', value, 'finished_at', now)
    redis.call('HDEL', job, 'error_type', 'error_message', 'entry', 'payload', 'due', 'owner')
    redis.call('EXPIRE', job, ttl)
    if h[4] and h[4] ~= '' then release_unique(prefix, job, id) end
    emit(channel, id, task, 'succeeded', attempt, now)
  elseif outcome == 'failed' or outcome == 'aborted' then
    redis.call('HSET', job, 'state', outcome, 'error_type', etype, 'error_message', emsg)
    finish(prefix, job, id, ttl, now)
    emit(channel, id, task, outcome, attempt, now, etype .. ': ' .. emsg)
  elseif outcome == 'dead' then
    bury(KEYS[2], prefix, job, id, task, value, etype, emsg, attempt, now, channel, ttl)
  elseif outcome == 'retry' then
    local due = now + tonumber(delay)
    redis.call('HSET', job, 'state', 'delayed', 'due', due, 'payload', value,
      'error_type', etype, 'error_message', emsg)
    redis.call('HDEL', job, 'entry', 'owner')
    schedule(KEYS[1], id, due, control)
    emit(channel, id, task, 'delayed', attempt, now, etype .. ': ' .. emsg)
  else
    local entry = redis.call('XADD', stream, '*', 'id', id, 't', task, 'p', value)
    redis.call('HSET', job, 'state', 'queued', 'entry', entry, 'attempt', attempt - 1)
    redis.call('HDEL', job, 'owner')
    emit(channel, id, task, 'queued', attempt - 1, now)
  end
  return 1
end
local done = {}
for i = 6, #ARGV, 10 do
  done[#done + 1] = complete(KEYS[tonumber(ARGV[i]) + 2], ARGV[i + 1], ARGV[i + 2],
    ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9])
end
return done
""")

# Renew the leases of a worker's running jobs (XCLAIM JUSTID resets the idle time
# without counting a delivery) and mark the worker alive.
# KEYS: workers, then the ready streams, highest priority first
# ARGV: group, consumer, prefix, forget_after_ms, then (stream index, entry id, job id,
#   deliveries) for each job
# -> {{job id, "lost" | "abort"}, ...}: runs fenced off, or asked to abort
HEARTBEAT: Final = _script("""
local now = now_ms()
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
local notes = {}
for i = 5, #ARGV, 4 do
  local stream, eid, id = KEYS[tonumber(ARGV[i]) + 1], ARGV[i + 1], ARGV[i + 2]
  local h = redis.call('HMGET', ARGV[3] .. 'j:' .. id, 'state', 'deliveries', 'abort')
  if h[1] == 'running' and h[2] == ARGV[i + 3] then
    redis.call('XCLAIM', stream, ARGV[1], ARGV[2], 0, eid, 'JUSTID')
    if h[3] then notes[#notes + 1] = {id, 'abort'} end
  else
    notes[#notes + 1] = {id, 'lost'}
  end
end
return notes
""")

# KEYS: job; ARGV: deliveries, fraction, message, events, id, task -> 1, or 0 if fenced off
PROGRESS: Final = _script("""
local h = redis.call('HMGET', KEYS[1], 'state', 'deliveries', 'attempt')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'message', ARGV[3])
local message = nil
if ARGV[3] ~= '' then message = ARGV[3] end
emit(ARGV[4], ARGV[5], ARGV[6], 'running', tonumber(h[3]), now_ms(), nil, tonumber(ARGV[2]),
  message)
return 1
""")

# KEYS: job, delayed; ARGV: prefix, group, events, control, id, ttl
# -> "aborted", "aborting" (running: its worker is told), "missing", or "finished"
ABORT: Final = _script("""
local job, prefix, id = KEYS[1], ARGV[1], ARGV[5]
local h = redis.call('HMGET', job, 'state', 'entry', 'priority', 'task', 'attempt')
local state = h[1]
if not state then return 'missing' end
if state == 'running' then
  redis.call('HSET', job, 'abort', 1)
  redis.call('PUBLISH', ARGV[4], 'abort:' .. id)
  return 'aborting'
end
if state == 'queued' then
  local stream = prefix .. 's' .. h[3]
  redis.call('XACK', stream, ARGV[2], h[2])
  redis.call('XDEL', stream, h[2])
elseif state == 'delayed' then
  redis.call('ZREM', KEYS[2], id)
else
  return 'finished'
end
local now = now_ms()
redis.call('HSET', job, 'state', 'aborted', 'error_type', 'JobAborted',
  'error_message', 'aborted before it started')
finish(prefix, job, id, tonumber(ARGV[6]), now)
emit(ARGV[3], id, h[4], 'aborted', tonumber(h[5]), now)
return 'aborted'
""")

# Queue dead letters again as fresh jobs (attempts start over).
# KEYS: dead; ARGV: prefix, events, then dead-letter entry ids -> how many were queued
REQUEUE_DEAD: Final = _script("""
local prefix, channel = ARGV[1], ARGV[2]
local now = now_ms()
local moved = 0
for i = 3, #ARGV do
  local r = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if r[1] then
    local f = {}
    local fields = r[1][2]
    for j = 1, #fields, 2 do f[fields[j]] = fields[j + 1] end
    local job = prefix .. 'j:' .. f['id']
    redis.call('XDEL', KEYS[1], ARGV[i])
    if not ACTIVE[redis.call('HGET', job, 'state')] then
      local entry = redis.call('XADD', prefix .. 's' .. f['pr'], '*', 'id', f['id'], 't', f['t'],
        'p', f['p'], 'n', '')
      redis.call('DEL', job)
      redis.call('HSET', job, 'task', f['t'], 'state', 'queued', 'priority', f['pr'], 'attempt', 0,
        'deliveries', 0, 'enqueued_at', now, 'entry', entry, 'unique', '')
      emit(channel, f['id'], f['t'], 'queued', 0, now)
      moved = moved + 1
    end
  end
end
return moved
""")

# KEYS: delayed, dead, workers, then the ready streams; ARGV: group, lease_ms
# -> {now, waiting, running, oldest entry (ms, -1 if none), delayed, first due (-1), dead, live}
HEALTH: Final = _script("""
local now = now_ms()
local waiting, running, oldest = 0, 0, -1
for i = 4, #KEYS do
  local length = redis.call('XLEN', KEYS[i])
  local pending = redis.call('XPENDING', KEYS[i], ARGV[1])[1]
  waiting = waiting + length - pending
  running = running + pending
  local first = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', 1)[1]
  if first then
    local ms = tonumber(string.match(first[1], '^(%d+)'))
    if oldest < 0 or ms < oldest then oldest = ms end
  end
end
local due = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or '-1'
local live = redis.call('ZCOUNT', KEYS[3], now - tonumber(ARGV[2]), '+inf')
return {now, waiting, running, oldest, redis.call('ZCARD', KEYS[1]), due,
  redis.call('XLEN', KEYS[2]), live}
""")

# KEYS: the ready streams; ARGV: group -> "" when each stream has the group, else the
# first stream that has not (WRONGTYPE when a key in the way is not a stream)
PROBE: Final = Script("""
for _, stream in ipairs(KEYS) do
  if redis.call('EXISTS', stream) == 0 then return stream end
  local found = false
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    for i = 1, #group, 2 do
      if group[i] == 'name' and group[i + 1] == ARGV[1] then found = true end
    end
  end
  if not found then return stream end
end
return ''
""")
