-- A token bucket per key, kept as a hash {t = tokens, at = last update in ms}.
-- KEYS[1]: the bucket. ARGV[1]: capacity (a full bucket). ARGV[2]: milliseconds to refill it
-- from empty. ARGV[3]: tokens to take when one is left (0 only looks). Time is the Redis server's, so that gateways with skewed clocks share one bucket.
-- Returns {allowed (1|0), tokens left (floored), ms until a token is available, ms until full}.
local capacity = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3] or '1')
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
local rate = capacity / window
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * rate)
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
local full = math.ceil((capacity - tokens) / rate)
-- Numbers returned to Redis are truncated to integers, so fractions are stored as strings.
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
-- A bucket left alone refills completely; after that it is the same as no bucket at all.
redis.call('PEXPIRE', KEYS[1], full + 1000)
return { allowed, math.floor(tokens), wait, full }
