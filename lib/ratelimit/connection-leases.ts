/**
 * Caps on concurrent WebSocket connections and gRPC streams across every gateway: each
 * open stream holds a lease — a member of a sorted set in Redis scored by its expiry on the
 * server's clock — in the tenant's set (`quotas.webSocketConnections`) and in the set of
 * each policy that caps connections. The gateway renews its leases well before they
 * expire, so a gateway that crashes frees its streams' places within one lease time, and no
 * gateway has to tell another anything.
 */
import type { Redis } from 'ioredis';
import type { Clock, TimerHandle } from '../clock/clock.ts';
import type { Logger } from '../observability/logger.ts';

/** One cap a stream counts against. */
export interface LeaseSet {
  /** Shown in errors and metrics: `tenant:connections` or `<policy>:connections`. */
  id: string;
  /** Redis key of the set. */
  key: string;
  cap: number;
}

/** What an attempt to open a stream found. */
export type LeaseResult =
  { acquired: true } | { acquired: false; full: LeaseSet; held: number } | { acquired: false; unavailable: true };

const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, ttl = ARGV[1], tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if not redis.call('ZSCORE', KEYS[i], member) then
    local held = redis.call('ZCARD', KEYS[i])
    if held >= tonumber(ARGV[2 + i]) then return { 0, i, held } end
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, member)
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
end
return { 1, 0, 0 }
`;

const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local args = {}
for i = 2, #ARGV do
  args[#args + 1] = now + ttl
  args[#args + 1] = ARGV[i]
end
redis.call('ZADD', KEYS[1], 'XX', unpack(args))
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
`;

interface LeaseCommands {
  weirLeaseAcquire(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<[number, number, number]>;
  weirLeaseRenew(key: string, ...args: (string | number)[]): Promise<number>;
}

/** Options for {@link ConnectionLeases}. */
export interface ConnectionLeasesOptions {
  redis: Redis;
  clock: Clock;
  log: Logger;
  /** How long a lease lives without renewal; 30 s unless given. */
  ttlMs?: number;
  /** How often held leases are renewed; a third of the lease time unless given. */
  renewMs?: number;
}

/** The leases of one gateway's open streams. */
export class ConnectionLeases {
  #redis: Redis & LeaseCommands;
  #clock: Clock;
  #log: Logger;
  readonly ttlMs: number;
  #renewMs: number;
  /** Members held, by set key. */
  #held = new Map<string, Set<string>>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: ConnectionLeasesOptions) {
    options.redis.defineCommand('weirLeaseAcquire', { lua: ACQUIRE });
    options.redis.defineCommand('weirLeaseRenew', { numberOfKeys: 1, lua: RENEW });
    this.#redis = options.redis as Redis & LeaseCommands;
    this.#clock = options.clock;
    this.#log = options.log;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.#renewMs = options.renewMs ?? Math.floor(this.ttlMs / 3);
  }

  /** Takes a place in every set, or none if one of them is full. */
  async acquire(sets: readonly LeaseSet[], member: string): Promise<LeaseResult> {
    if (sets.length === 0) return { acquired: true };
    let reply: [number, number, number];
    try {
      reply = await this.#redis.weirLeaseAcquire(
        sets.length,
        ...sets.map((s) => s.key),
        member,
        this.ttlMs,
        ...sets.map((s) => s.cap),
      );
    } catch (err) {
      this.#log.warn({ err: { message: (err as Error).message } }, 'connection lease store unavailable');
      return { acquired: false, unavailable: true };
    }
    if (reply[0] !== 1) return { acquired: false, full: sets[reply[1] - 1]!, held: reply[2] };
    for (const set of sets) {
      const members = this.#held.get(set.key) ?? new Set<string>();
      members.add(member);
      this.#held.set(set.key, members);
    }
    this.#schedule();
    return { acquired: true };
  }

  /** Gives the places back; a failure only means the leases expire on their own. */
  async release(sets: readonly LeaseSet[], member: string): Promise<void> {
    for (const set of sets) {
      const members = this.#held.get(set.key);
      members?.delete(member);
      if (members?.size === 0) this.#held.delete(set.key);
    }
    await Promise.all(sets.map((s) => this.#redis.zrem(s.key, member))).catch((err: Error) =>
      this.#log.debug({ err: { message: err.message } }, 'releasing connection leases failed; they will expire'),
    );
  }

  /** Leases this gateway holds now, across all sets. */
  get held(): number {
    let n = 0;
    for (const members of this.#held.values()) n += members.size;
    return n;
  }

  /** Renews every held lease once. */
  async renew(): Promise<void> {
    await Promise.all(
      [...this.#held].map(([key, members]) =>
        this.#redis.weirLeaseRenew(key, this.ttlMs, ...members).catch((err: Error) => {
          this.#log.warn({ err: { message: err.message }, key }, 'renewing connection leases failed');
        }),
      ),
    );
  }

  /** Stops renewing; the leases still held expire on their own. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.renew().finally(() => {
        if (this.#held.size > 0) this.#schedule();
      });
    }, this.#renewMs);
  }
}
