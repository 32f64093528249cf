-- One namespace's share of a batch, aggregated by the writer (finsent/store/write.py).
-- ARGV[1] is the call as JSON, every key by name; KEYS are indexed from it (call.keys.*,
-- bucket.k, evidence.k). A backend prepends `write_bucket(call, series, b)`.
--
-- Atomically:
-- 1. fence: each (stream, partition) the batch read must still hold the offset the writer
--    read before aggregating; otherwise another writer got there first: change nothing,
--    return the field so the writer re-reads and re-aggregates.
-- 2. watermark: the newest event time, after this batch; in a trimmed namespace an hour
--    older than hour retention behind it is refused (it would be trimmed anyway), minutes
--    older than minute retention and evidence older than evidence retention are not
--    written (a late document never recreates what trimming removed).
-- 3. counts, series, evidence, registry; the fences move to the batch's last offsets.
-- Nothing here can fail half-way on input: labels are escaped and numbers are checked by
-- the writer before the call is built.
local call = cjson.decode(ARGV[1])
local K = call.keys
-- The same call again (the client resent it after a timeout): its first reply.
local previous = redis.call('GET', KEYS[K.reply])
if previous then return cjson.decode(previous) end
local fences = KEYS[K.fence]
for _, f in ipairs(call.fences) do
  local cur = redis.call('HGET', fences, f.field) or ''
  if cur ~= f.expected then return {0, f.field, cur} end
end
local meta = KEYS[K.meta]
local raw = redis.call('HGET', meta, 'watermark_ms')
local wm = raw and tonumber(raw) or nil
if call.last_ms ~= '' and ((not wm) or tonumber(call.last_ms) > wm) then
  wm = tonumber(call.last_ms)
end
local HOUR = 3600000
local function keeps(res, start)
  if (not call.trimmed) or (not wm) then return true end
  local retention = res == '1m' and call.minute_retention_ms or call.hour_retention_ms
  return tonumber(start) >= wm - retention
end
local refused_hours, refused_list = {}, {}
local refused = 0
local docs = 0
local first = nil
for _, h in ipairs(call.hours) do
  if keeps('1h', h.start) then
    docs = docs + h.docs
    if first == nil or tonumber(h.first_ms) < first then first = tonumber(h.first_ms) end
  else
    refused_hours[h.start] = true
    refused = refused + h.docs
    table.insert(refused_list, h.start)
  end
end
if wm then redis.call('HSET', meta, 'watermark_ms', string.format('%d', wm)) end
if first ~= nil then
  local had = redis.call('HGET', meta, 'first_ms')
  if (not had) or first < tonumber(had) then
    redis.call('HSET', meta, 'first_ms', string.format('%d', first))
  end
end
if docs > 0 then redis.call('HINCRBY', meta, 'docs', docs) end
if refused > 0 then redis.call('HINCRBY', meta, 'refused:' .. call.refused_reason, refused) end
for reason, n in pairs(call.refused_before) do
  redis.call('HINCRBY', meta, 'refused:' .. reason, n)
end
for _, b in ipairs(call.buckets) do
  if not refused_hours[b.hour] and keeps(b.res, b.start) then
    write_bucket(call, call.series[b.s], b)
  end
end
-- In slices: Lua's unpack fails beyond a few thousand values.
local function sadd_all(key, members)
  for i = 1, #members, 1000 do
    redis.call('SADD', key, unpack(members, i, math.min(i + 999, #members)))
  end
end
sadd_all(KEYS[K.registry], call.registry)
sadd_all(KEYS[K.models], call.models)
for _, e in ipairs(call.evidence) do
  local fresh = (not call.trimmed) or tonumber(e.hour) > wm - call.evidence_retention_ms - HOUR
  if fresh and not refused_hours[e.hour] then
    local key = KEYS[e.k]
    redis.call('ZADD', key, unpack(e.members))
    redis.call('ZREMRANGEBYRANK', key, call.evidence_per_hour, -1)
    redis.call('ZADD', KEYS[K.evidence_index], e.hour, key)
  end
end
for _, f in ipairs(call.fences) do
  redis.call('HSET', fences, f.field, f.offset)
end
local out = {1}
for _, h in ipairs(refused_list) do table.insert(out, h) end
redis.call('SET', KEYS[K.reply], cjson.encode(out), 'EX', 120)
return out
