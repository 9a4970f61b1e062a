/**
 * The limiter's one Redis script: every limit of a request is checked and, only if every
 * enforced one allows it, all of them are charged — in one atomic call, on the Redis
 * server's clock (`TIME`), so gateways on machines whose clocks disagree still share one
 * limit exactly. Shadow limits are evaluated and charged like the others when the request
 * is admitted, but never refuse it.
 *
 * Token bucket: GCRA, one number per key (the theoretical arrival time in microseconds);
 * `burst` units may be taken at once and `rate` per period refill. Equivalent to a token
 * bucket, with no refill arithmetic or second field.
 *
 * Sliding window: the period is cut into {@link SLIDING_SLOTS} slots kept in a hash, and
 * a request is counted against every slot that overlaps the last period, the oldest one in
 * full. Any window of one period therefore admits at most `rate` units — strictly — and at
 * most one slot's worth less, with memory bounded by the slot count, not by the traffic.
 */

/** Slots of a sliding window: admission stays within 1/20 of the rate below the limit. */
export const SLIDING_SLOTS = 20;

/** Arguments per limit: algorithm, rate, period (µs), burst, cost, shadow. */
export const ARGS_PER_LIMIT = 6;

/** Values returned per limit after the overall verdict: allowed, remaining, reset (µs), retry (µs; -1 never). */
export const RESULTS_PER_LIMIT = 4;

export const LIMITER_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slots = ${SLIDING_SLOTS}
local out = {0}
local all = 1
local commits = {}
for i = 1, #KEYS do
  local b = (i - 1) * ${ARGS_PER_LIMIT}
  local alg = tonumber(ARGV[b + 1])
  local rate = tonumber(ARGV[b + 2])
  local period = tonumber(ARGV[b + 3])
  local burst = tonumber(ARGV[b + 4])
  local cost = tonumber(ARGV[b + 5])
  local shadow = ARGV[b + 6] == '1'
  local key = KEYS[i]
  local ok, remaining, reset, retry
  if alg == 1 then
    local interval = period / rate
    local capacity = burst * interval
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat < now then tat = now end
    local next_tat = tat + cost * interval
    if next_tat - now <= capacity then
      ok, retry, reset = 1, 0, next_tat - now
      remaining = math.floor((capacity - (next_tat - now)) / interval)
      commits[i] = next_tat
    else
      ok, reset = 0, tat - now
      remaining = math.floor((capacity - (tat - now)) / interval)
      if cost * interval > capacity then retry = -1 else retry = next_tat - capacity - now end
    end
  else
    local width = period / slots
    local current = math.floor(now / width)
    local oldest = current - slots
    local fields = redis.call('HGETALL', key)
    local used, newest = 0, -1
    local counted, stale = {}, {}
    for j = 1, #fields, 2 do
      local slot = tonumber(fields[j])
      if slot < oldest then
        stale[#stale + 1] = fields[j]
      else
        local count = tonumber(fields[j + 1])
        used = used + count
        counted[#counted + 1] = { slot, count }
        if slot > newest then newest = slot end
      end
    end
    if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
    if used + cost <= rate then
      ok, retry, remaining = 1, 0, rate - used - cost
      if cost > 0 then
        commits[i] = current
        newest = current
      end
    else
      ok, remaining, retry = 0, rate - used, -1
      if cost <= rate then
        table.sort(counted, function(x, y) return x[1] < y[1] end)
        local freed = 0
        for _, c in ipairs(counted) do
          freed = freed + c[2]
          if used - freed + cost <= rate then
            retry = (c[1] + slots + 1) * width - now
            break
          end
        end
      end
    end
    if newest < 0 then reset = 0 else reset = (newest + slots + 1) * width - now end
  end
  if ok == 0 and not shadow then all = 0 end
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = ok
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(reset)
  out[#out + 1] = math.ceil(retry)
end
if all == 1 then
  for i, value in pairs(commits) do
    local b = (i - 1) * ${ARGS_PER_LIMIT}
    local period = tonumber(ARGV[b + 3])
    if ARGV[b + 1] == '1' then
      local tat = math.ceil(value)
      redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
    else
      redis.call('HINCRBY', KEYS[i], string.format('%.0f', value), tonumber(ARGV[b + 5]))
      redis.call('PEXPIRE', KEYS[i], math.ceil((period + period / slots) / 1000) + 1)
    end
  end
end
out[1] = all
return out
`;

/** The arguments of one script call for the given limits. */
export function scriptArguments(
  limits: readonly {
    algorithm: 'TokenBucket' | 'SlidingWindow';
    rate: number;
    periodMs: number;
    burst: number;
    cost: number;
    shadow: boolean;
  }[],
): string[] {
  const args: string[] = [];
  for (const l of limits) {
    args.push(
      l.algorithm === 'TokenBucket' ? '1' : '2',
      String(l.rate),
      String(Math.round(l.periodMs * 1000)),
      String(l.burst),
      String(l.cost),
      l.shadow ? '1' : '0',
    );
  }
  return args;
}

/** One limit's answer, in milliseconds. */
export interface ScriptLimitResult {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  /** -1 when the request can never pass this limit (its cost exceeds the burst). */
  retryAfterMs: number;
}

/** Decodes the script's reply. */
export function decodeScriptReply(reply: unknown): { allowed: boolean; limits: ScriptLimitResult[] } {
  if (!Array.isArray(reply) || reply.length < 1 || (reply.length - 1) % RESULTS_PER_LIMIT !== 0)
    throw new TypeError(`unexpected limiter reply ${JSON.stringify(reply)}`);
  const values = reply.map(Number);
  const limits: ScriptLimitResult[] = [];
  for (let i = 1; i < values.length; i += RESULTS_PER_LIMIT) {
    const retry = values[i + 3]!;
    limits.push({
      allowed: values[i] === 1,
      remaining: values[i + 1]!,
      resetMs: Math.ceil(values[i + 2]! / 1000),
      retryAfterMs: retry < 0 ? -1 : Math.ceil(retry / 1000),
    });
  }
  return { allowed: values[0] === 1, limits };
}
