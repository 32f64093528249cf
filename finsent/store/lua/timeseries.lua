-- RedisTimeSeries: one key per (series, field, resolution, model). b.k = the keys of
-- count, negative, neutral, positive, score_sum. `ON_DUPLICATE SUM` adds to the bucket's
-- sample: exact because the fence admits each document's batch once. Labels (escaped by
-- the writer) and retention apply when TS.ADD creates the key.
local FIELDS = {'count', 'negative', 'neutral', 'positive', 'score_sum'}
local function write_bucket(call, series, b)
  local retention = 0
  if call.trimmed then
    retention = b.res == '1m' and call.minute_retention_ms or call.hour_retention_ms
  end
  for i, field in ipairs(FIELDS) do
    local delta = b[field]
    if field == 'score_sum' or delta > 0 then
      local labels = {}
      for _, l in ipairs(series.labels) do table.insert(labels, l) end
      table.insert(labels, 'field'); table.insert(labels, field)
      table.insert(labels, 'resolution'); table.insert(labels, b.res)
      redis.call('TS.ADD', KEYS[b.k[i]], b.start, delta, 'RETENTION', retention,
        'ON_DUPLICATE', 'SUM', 'LABELS', unpack(labels))
    end
  end
end
