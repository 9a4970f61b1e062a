/**
 * Retries that produce no duplicates: a request's `Idempotency-Key` (or a stream message's
 * id within its session) is claimed in Redis before its events are handed to Kafka, and
 * marked done with the event ids once Kafka acknowledged them, for `ttlMs`. A retry of a
 * done request gets the same ids without writing anything; one that arrives while the first
 * is still being written is told to wait (409). A claim follows its write to the end, also
 * after the client was answered: kept pending (and renewed) while the write is still with
 * Kafka, marked done if it lands late, released once it certainly reached nothing; a write
 * whose outcome stays unknown keeps its claim for `pendingMs`, so a quick retry cannot write
 * a second copy of what may be there already.
 *
 * Keys are hashed and scoped by tenant and pipeline, under the gateway's own key space, which
 * tenants' Redis users cannot reach.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Errors, weirError } from '../../lib/errors/errors.ts';

/** What a claim found. */
export type Claim = { kind: 'new' } | { kind: 'done'; ids: string[] } | { kind: 'pending' };

/** Longest idempotency key accepted. */
export const MAX_IDEMPOTENCY_KEY = 256;

const CLAIM = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

interface IdempotencyCommands {
  weirIdempotencyClaim(key: string, value: string, ttlMs: number): Promise<string | null>;
  weirIdempotencyRelease(key: string, value: string): Promise<number>;
  weirIdempotencyRenew(key: string, value: string, ttlMs: number): Promise<number>;
}

/** Whose claim: tenant and pipeline. */
export interface Scope {
  tenant: string;
  /** `namespace/name`. */
  pipeline: string;
}

/** Options for {@link IdempotencyStore}. */
export interface IdempotencyStoreOptions {
  redis: Redis;
  /** Identifies this gateway's claims, so it releases only its own. */
  owner: string;
  /** How long a done request is remembered; 24 h unless given. */
  ttlMs?: number;
  /** How long an unsettled claim holds; 30 s unless given. */
  pendingMs?: number;
}

/** Whether a client's key is acceptable: printable ASCII of bounded length. */
export function checkIdempotencyKey(key: string): string | undefined {
  if (key.length === 0) return 'the Idempotency-Key is empty';
  if (key.length > MAX_IDEMPOTENCY_KEY) return `the Idempotency-Key is longer than ${MAX_IDEMPOTENCY_KEY} characters`;
  if (/[^\x20-\x7e]/.test(key)) return 'the Idempotency-Key must be printable ASCII';
  return undefined;
}

/** Claims of requests and stream messages in Redis. */
export class IdempotencyStore {
  #redis: Redis & IdempotencyCommands;
  #pendingValue: string;
  readonly ttlMs: number;
  readonly pendingMs: number;

  constructor(options: IdempotencyStoreOptions) {
    options.redis.defineCommand('weirIdempotencyClaim', { numberOfKeys: 1, lua: CLAIM });
    options.redis.defineCommand('weirIdempotencyRelease', { numberOfKeys: 1, lua: RELEASE });
    options.redis.defineCommand('weirIdempotencyRenew', { numberOfKeys: 1, lua: RENEW });
    this.#redis = options.redis as Redis & IdempotencyCommands;
    this.#pendingValue = `pending:${options.owner}`;
    this.ttlMs = options.ttlMs ?? 24 * 3_600_000;
    this.pendingMs = options.pendingMs ?? 30_000;
  }

  /** The Redis key of a client's key. */
  static redisKey(scope: Scope, key: string): string {
    return `weir:idem:{${scope.tenant}}:${scope.pipeline}:${createHash('sha256').update(key).digest('base64url')}`;
  }

  /** Claims the key for this request; rejects with RedisUnavailable if Redis cannot be asked. */
  async claim(scope: Scope, key: string): Promise<Claim> {
    let found: string | null;
    try {
      found = await this.#redis.weirIdempotencyClaim(
        IdempotencyStore.redisKey(scope, key),
        this.#pendingValue,
        this.pendingMs,
      );
    } catch (err) {
      throw weirError(Errors.RedisUnavailable, 'the idempotency store is unavailable', { cause: err });
    }
    if (found === null) return { kind: 'new' };
    if (found.startsWith('done:')) return { kind: 'done', ids: JSON.parse(found.slice('done:'.length)) as string[] };
    return { kind: 'pending' };
  }

  /** Remembers that the request's events were written, with their ids. */
  async complete(scope: Scope, key: string, ids: readonly string[]): Promise<void> {
    await this.#redis.set(IdempotencyStore.redisKey(scope, key), `done:${JSON.stringify(ids)}`, 'PX', this.ttlMs);
  }

  /** Holds this gateway's pending claim for another `pendingMs`; false if it is no longer pending here. */
  async renew(scope: Scope, key: string): Promise<boolean> {
    const renewed = await this.#redis.weirIdempotencyRenew(
      IdempotencyStore.redisKey(scope, key),
      this.#pendingValue,
      this.pendingMs,
    );
    return renewed === 1;
  }

  /** Gives the claim up: nothing of the request reached Kafka. */
  async release(scope: Scope, key: string): Promise<void> {
    await this.#redis.weirIdempotencyRelease(IdempotencyStore.redisKey(scope, key), this.#pendingValue);
  }
}
