-- Idempotent dead letter: the first write of a (origin, payload) digest appends to the capped
-- stream and counts it; a retry of the same write finds the marker and changes nothing.
-- KEYS: seen marker, stream, total counter. ARGV: marker ttl s, maxlen, payload, reason, code, origin.
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
  'payload', ARGV[3], 'reason', ARGV[4], 'code', ARGV[5], 'origin', ARGV[6])
redis.call('INCR', KEYS[3])
return 1
