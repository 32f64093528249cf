-- Core Redis: a hash per series bucket (count, labels, score_sum, m:<model>) and a sorted
-- set of bucket starts per series and resolution. b.k = {bucket hash, bucket index}.
local function write_bucket(call, series, b)
  local bucket = KEYS[b.k[1]]
  if redis.call('HINCRBY', bucket, 'count', b.count) == b.count then
    redis.call('ZADD', KEYS[b.k[2]], b.start, b.start)
  end
  if b.negative > 0 then redis.call('HINCRBY', bucket, 'negative', b.negative) end
  if b.neutral > 0 then redis.call('HINCRBY', bucket, 'neutral', b.neutral) end
  if b.positive > 0 then redis.call('HINCRBY', bucket, 'positive', b.positive) end
  redis.call('HINCRBYFLOAT', bucket, 'score_sum', b.score_sum)
  redis.call('HINCRBY', bucket, 'm:' .. series.model, b.count)
end
