/**
 * Rate-limit decisions in Redis: one script call per request checks every limit the plan
 * lists (see limiter-script.ts). When Redis cannot answer — down, slow past the
 * connection's command timeout, or shunned by the circuit breaker — the decision follows
 * the limits' failure modes: refused if any enforced limit says FailClosed, admitted
 * otherwise, and marked as such for metrics.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { LimitCheck } from './limit-plan.ts';
import { decodeScriptReply, LIMITER_SCRIPT, scriptArguments, type ScriptLimitResult } from './limiter-script.ts';
import {
  admitCall,
  callFailed,
  callSucceeded,
  CLOSED,
  type BreakerSettings,
  type BreakerState,
} from './store-breaker.ts';

/** One limit's answer. */
export interface LimitResult extends ScriptLimitResult {
  check: LimitCheck;
}

/** Who decided: Redis, or the failure mode because Redis could not be asked. */
export type DecisionSource = 'store' | 'failOpen' | 'failClosed';

/** The decision on one request. */
export interface LimitDecision {
  allowed: boolean;
  source: DecisionSource;
  /** Every limit's answer; empty when Redis was not asked. */
  results: LimitResult[];
  /** Enforced limits that refused the request. */
  deniedBy: LimitResult[];
  /** Shadow limits that would have refused it. */
  shadowDenied: LimitResult[];
  /** When a refused request may pass, in ms; -1 if it never can (its cost is over a burst). */
  retryAfterMs: number;
}

/** Options for {@link RedisLimiter}. */
export interface RedisLimiterOptions {
  /** A connection from connectRedis with a short command timeout and no offline queue. */
  redis: Redis;
  clock: Clock;
  log: Logger;
  breaker?: Partial<BreakerSettings>;
}

interface LimiterCommands {
  weirRateLimit(numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
}

/** Decides requests against their limits in Redis. */
export class RedisLimiter {
  #redis: Redis & LimiterCommands;
  #clock: Clock;
  #log: Logger;
  #breaker: BreakerSettings;
  #state: BreakerState = CLOSED;

  constructor(options: RedisLimiterOptions) {
    options.redis.defineCommand('weirRateLimit', { lua: LIMITER_SCRIPT });
    this.#redis = options.redis as Redis & LimiterCommands;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#breaker = { failuresToOpen: 3, openMs: 1_000, probeTimeoutMs: 2_000, ...options.breaker };
  }

  /** False while the breaker keeps decisions away from Redis. */
  get storeAvailable(): boolean {
    return this.#state.kind === 'closed';
  }

  /** Checks, and if all enforced limits allow it, charges every limit. */
  async decide(checks: readonly LimitCheck[]): Promise<LimitDecision> {
    if (checks.length === 0)
      return { allowed: true, source: 'store', results: [], deniedBy: [], shadowDenied: [], retryAfterMs: 0 };
    const admitted = admitCall(this.#state, this.#clock.now(), this.#breaker);
    this.#state = admitted.state;
    if (!admitted.call) return failureDecision(checks);
    let reply: unknown;
    try {
      reply = await this.#redis.weirRateLimit(checks.length, ...checks.map((c) => c.key), ...scriptArguments(checks));
    } catch (err) {
      const wasClosed = this.#state.kind === 'closed';
      this.#state = callFailed(this.#state, this.#clock.now(), this.#breaker);
      if (wasClosed && this.#state.kind === 'open')
        this.#log.warn(
          { err: { message: (err as Error).message } },
          'rate-limit store unavailable; using failure modes',
        );
      return failureDecision(checks);
    }
    if (this.#state.kind !== 'closed') this.#log.info('rate-limit store available again');
    this.#state = callSucceeded();
    const { allowed, limits } = decodeScriptReply(reply);
    const results = limits.map((r, i) => ({ ...r, check: checks[i]! }));
    const deniedBy = results.filter((r) => !r.allowed && !r.check.shadow);
    const never = deniedBy.some((r) => r.retryAfterMs < 0);
    return {
      allowed,
      source: 'store',
      results,
      deniedBy,
      shadowDenied: results.filter((r) => !r.allowed && r.check.shadow),
      retryAfterMs: never ? -1 : Math.max(0, ...deniedBy.map((r) => r.retryAfterMs)),
    };
  }
}

/** The decision when Redis cannot be asked: closed if any enforced limit fails closed. */
export function failureDecision(checks: readonly LimitCheck[]): LimitDecision {
  const closed = checks.some((c) => c.failClosed && !c.shadow);
  return {
    allowed: !closed,
    source: closed ? 'failClosed' : 'failOpen',
    results: [],
    deniedBy: [],
    shadowDenied: [],
    retryAfterMs: closed ? 1_000 : 0,
  };
}
