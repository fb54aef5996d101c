-- Merge-safe, idempotent upsert of a batch of session panes, in order. Atomic: Redis runs it
-- whole or not at all. One call a batch: most of the client's cost is per call, not per pane.
-- KEYS: users zset, top zset, stats hash, panes stream (one prefix), then for each pane its
--   user's sessions hash and history zset.
-- ARGV: ttl_ms (0 = keep forever), panes max length, then for each pane user_id, start_ms,
--   window_end_ms, record JSON.
-- Returns one code per pane:
-- A stored session that contains this window and has at least as many events makes this pane
-- stale or a replay: nothing changes, 0. With equal counts only an EARLY record gives
-- way, to the ON_TIME (or LATE) pane that completes it. A pane that adds no events never
-- rewrites a final record: Flink closes every window with a LATE pane equal to its last one.
-- Otherwise every stored session starting in [start, window_end) is superseded: earlier panes
-- of this window, or sessions a late bridging event merged into it. 1.
-- Such a pane holds all their events, so it has at least as many as they have together. A pane
-- with fewer comes from a run that never saw them (a later bounded run reading a late event):
-- it is stored beside them and nothing is deleted (2), unless it would overwrite one
-- with the same start, in which case nothing changes (3, and the writer logs it).
local users, top, stats, panes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl, max_len = tonumber(ARGV[1]), ARGV[2]
-- The stats hash takes the batch's sums once, at the end.
local totals = {sessions = 0, events = 0, bounces = 0, bots = 0, duration_ms = 0}

local function covers(old, new)
  if old.start_ms > new.start_ms or old.window_end_ms < new.window_end_ms then
    return false
  end
  if old.event_count ~= new.event_count then
    return old.event_count > new.event_count
  end
  return old.pane ~= 'EARLY' or new.pane == 'EARLY'
end

local function bool(b) if b then return 1 else return 0 end end

local function count_stats(r, sign)
  totals.sessions = totals.sessions + sign
  totals.events = totals.events + sign * r.event_count
  totals.bounces = totals.bounces + sign * bool(r.is_bounce)
  totals.bots = totals.bots + sign * bool(r.is_bot)
  totals.duration_ms = totals.duration_ms + sign * r.duration_ms
end

-- Lua numbers reach Redis as %.14g text; integers are spelled out for the INCR commands.
local function int(n) return string.format('%d', n) end

local function upsert(sessions, history, user_id, start, window_end, record)
  local new = cjson.decode(record)
  -- Stored sessions of one user do not overlap (but for those of code 2), so only the latest one
  -- before start can contain us.
  local before = redis.call('ZREVRANGEBYSCORE', history, '(' .. start, '-inf', 'LIMIT', 0, 1)
  local inside = redis.call('ZRANGEBYSCORE', history, start, '(' .. window_end)
  local olds = {}
  for _, member in ipairs(before) do
    local old = cjson.decode(redis.call('HGET', sessions, member))
    if covers(old, new) then return 0 end
  end
  for _, member in ipairs(inside) do
    local old = cjson.decode(redis.call('HGET', sessions, member))
    if covers(old, new) then return 0 end
    olds[#olds + 1] = {member, old}
  end

  local superseded = 0
  for _, pair in ipairs(olds) do superseded = superseded + pair[2].event_count end
  local result = 1
  if superseded > new.event_count then
    if redis.call('HEXISTS', sessions, start) == 1 then return 3 end
    olds, result = {}, 2
  end

  local delta = new.event_count
  for _, pair in ipairs(olds) do
    redis.call('HDEL', sessions, pair[1])
    redis.call('ZREM', history, pair[1])
    count_stats(pair[2], -1)
    delta = delta - pair[2].event_count
  end
  redis.call('HSET', sessions, start, record)
  redis.call('ZADD', history, start, start)
  count_stats(new, 1)
  if delta ~= 0 then redis.call('ZINCRBY', top, int(delta), user_id) end
  redis.call('ZADD', users, 'GT', new.end_ms, user_id)  -- GT still adds a new user
  if ttl > 0 then
    redis.call('PEXPIRE', sessions, ttl)
    redis.call('PEXPIRE', history, ttl)
  end
  -- The latest writes, newest last (the stream id is the write time): what changed, and when.
  redis.call('XADD', panes, 'MAXLEN', '~', max_len, '*', 'user_id', user_id, 'start_ms', start,
             'end_ms', new.end_ms, 'event_count', new.event_count, 'pane', new.pane)
  return result
end

local results = {}
for i = 1, (#KEYS - 4) / 2 do
  local k, a = 3 + 2 * i, 4 * i - 1
  results[i] = upsert(KEYS[k], KEYS[k + 1], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
end
for field, n in pairs(totals) do
  -- Skipping zeros also keeps Lua's -0 (not an integer to Redis) out of HINCRBY.
  if n ~= 0 then redis.call('HINCRBY', stats, field, int(n)) end
end
return results
