/**
 * What WebSocket connections and gRPC streams share: a place under every connection cap
 * (the tenant's `quotas.webSocketConnections` and each policy's `streams.maxConnections`
 * per value of its first rule's key, across all gateways, as leases in Redis), a session
 * kept in Redis so that a client that reconnects — to this gateway or another — resumes
 * it, the stream's per-message limits, and each message published with the session and
 * message id as its idempotency key: a message resent after a reconnect is acknowledged
 * again without being written twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../../lib/clock/clock.ts';
import { Errors, weirError, type WeirError } from '../../lib/errors/errors.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { ConnectionLeases, LeaseSet } from '../../lib/ratelimit/connection-leases.ts';
import { hashValue, ruleKeyValue } from '../../lib/ratelimit/limit-plan.ts';
import { policyKey } from '../../lib/ratelimit/policy-set.ts';
import { StreamMessageLimit } from '../../lib/ratelimit/stream-message-limit.ts';
import type { GatewayConfig } from './gateway-config.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import type { Admitted, Ingestor, Outcome, Payload } from './ingest.ts';
import type { Protocol } from './routing-table.ts';

/** A session id a client may choose: 1-128 URL-safe characters. */
export const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** The connection caps a stream counts against. */
export function leaseSets(
  admitted: Admitted,
  clientIp: string,
  header: (name: string) => string | undefined,
): LeaseSet[] {
  const { route, token } = admitted;
  const prefix = `weir:conn:{${route.tenant.name}}`;
  const sets: LeaseSet[] = [
    { id: 'tenant:connections', key: `${prefix}:tenant`, cap: route.tenant.spec.quotas.webSocketConnections },
  ];
  for (const { policy, cap } of route.connectionCaps) {
    const rule = policy.spec.rules[0]!;
    const value = ruleKeyValue(rule, {
      tenant: route.tenant.name,
      events: 1,
      bytes: 0,
      clientIp,
      claims: token.claims,
      header,
    });
    sets.push({
      id: `${policy.metadata?.name}:connections`,
      key: `${prefix}:p:${policyKey(policy)}:${hashValue(value)}`,
      cap,
    });
  }
  return sets;
}

/** Sessions in Redis: created, last seen, and the gateway holding them. */
export class SessionStore {
  #redis: Redis;
  #gateway: string;
  #ttlMs: number;

  constructor(options: { redis: Redis; gateway: string; ttlMs?: number }) {
    this.#redis = options.redis;
    this.#gateway = options.gateway;
    this.#ttlMs = options.ttlMs ?? 24 * 3_600_000;
  }

  static key(admitted: Admitted, session: string): string {
    const subject = createHash('sha256')
      .update(admitted.token.subject ?? '')
      .digest('base64url')
      .slice(0, 16);
    return `weir:ws:{${admitted.route.tenant.name}}:${admitted.route.key}:${subject}:${session}`;
  }

  /** Records the session as held here; true if it existed (the client resumes it). */
  async open(admitted: Admitted, session: string, now: number): Promise<boolean> {
    const key = SessionStore.key(admitted, session);
    const [[, created]] = (await this.#redis
      .multi()
      .hsetnx(key, 'created', String(now))
      .hset(key, 'gateway', this.#gateway, 'connectedAt', String(now))
      .pexpire(key, this.#ttlMs)
      .exec()) as [[Error | null, number]];
    return created === 0;
  }

  /** Notes when the session was last used. */
  async close(admitted: Admitted, session: string, now: number, acknowledged: number): Promise<void> {
    const key = SessionStore.key(admitted, session);
    await this.#redis
      .multi()
      .hset(key, 'closedAt', String(now))
      .hincrby(key, 'acknowledged', acknowledged)
      .pexpire(key, this.#ttlMs)
      .exec();
  }
}

/** What a stream needs of the gateway. */
export interface StreamDeps {
  ingestor: Ingestor;
  config: GatewayConfig;
  leases: ConnectionLeases;
  sessions: SessionStore;
  metrics: GatewayMetrics;
  clock: Clock;
  log: Logger;
  gatewayId: string;
  /** Whether streams are refused when Redis cannot count them. */
  quotaFailClosed: boolean;
}

/** One message of a stream. */
export interface StreamMessage {
  id: string;
  payload: Payload;
  bytes: number;
  schemaVersion: number | undefined;
}

/** One open stream: its leases, session, limits and messages in flight. */
export class StreamSession {
  readonly session: string;
  readonly member: string;
  resumed = false;
  #deps: StreamDeps;
  #admitted: Admitted;
  #protocol: Protocol;
  #clientIp: string;
  #header: (name: string) => string | undefined;
  #sets: LeaseSet[] = [];
  #limit: StreamMessageLimit;
  #inFlight = 0;
  #acknowledged = 0;
  #idle: (() => void)[] = [];

  constructor(
    deps: StreamDeps,
    admitted: Admitted,
    protocol: Protocol,
    clientIp: string,
    header: (name: string) => string | undefined,
    session: string | undefined,
  ) {
    this.#deps = deps;
    this.#admitted = admitted;
    this.#protocol = protocol;
    this.#clientIp = clientIp;
    this.#header = header;
    this.session = session ?? randomUUID();
    this.member = `${deps.gatewayId}:${randomUUID()}`;
    this.#limit = new StreamMessageLimit(admitted.route.streamLimits, deps.clock);
  }

  get route() {
    return this.#admitted.route;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a place under every cap and opens the session; throws TooManyConnections or RedisUnavailable. */
  async open(): Promise<void> {
    const { route } = this.#admitted;
    this.#sets = leaseSets(this.#admitted, this.#clientIp, this.#header);
    const lease = await this.#deps.leases.acquire(this.#sets, this.member);
    if (!lease.acquired && 'full' in lease) {
      this.#deps.metrics.connectionsRefused.inc({ tenant: route.tenant.name, cap: lease.full.id });
      throw weirError(
        Errors.TooManyConnections,
        `${lease.full.id} allows ${lease.full.cap} concurrent streams, all in use`,
        {
          details: { limit: lease.full.id, retryAfterSeconds: 5 },
        },
      );
    }
    if (!lease.acquired) {
      if (this.#deps.quotaFailClosed || route.failClosed)
        throw weirError(Errors.RedisUnavailable, 'connection caps cannot be checked now; try again shortly', {
          details: { retryAfterSeconds: 1 },
        });
      this.#sets = [];
    }
    try {
      this.resumed = await this.#deps.sessions.open(this.#admitted, this.session, this.#deps.clock.now());
    } catch (err) {
      this.#deps.log.warn(
        { pipeline: route.key, err: { message: (err as Error).message } },
        'session store unavailable',
      );
    }
    this.#deps.metrics.connections.inc({ tenant: route.tenant.name, protocol: this.#protocol });
  }

  /** Publishes one message: stream limits first, then the pipeline's limits, schema and Kafka. */
  async publish(message: StreamMessage): Promise<Outcome> {
    // Limits apply live: the route is looked up again for every message.
    const current = this.#deps.config.route(this.#admitted.route.namespace, this.#admitted.route.name);
    if (!current || !current.ingestion[this.#protocol])
      return refusal(weirError(Errors.NotFound, `pipeline ${this.#admitted.route.key} no longer accepts events here`));
    if (current !== this.#admitted.route) {
      this.#limit.update(current.streamLimits);
      this.#admitted = { ...this.#admitted, route: current };
    }
    if (this.#deps.clock.now() >= this.#admitted.token.expiresAt)
      return refusal(weirError(Errors.InvalidToken, 'the token has expired; reconnect with a fresh one'));
    const verdict = this.#limit.take(message.bytes);
    if (!verdict.ok) {
      const error =
        verdict.reason === 'size'
          ? weirError(Errors.PayloadTooLarge, `messages on this stream may be at most ${verdict.max} bytes`)
          : weirError(Errors.RateLimited, 'this stream sends more messages per second than its policy allows', {
              details: {
                limit: 'stream:messagesPerSecond',
                retryAfterSeconds: Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)),
              },
            });
      this.#deps.metrics.eventsRejected.inc({
        tenant: current.tenant.name,
        pipeline: current.key,
        protocol: this.#protocol,
        reason: verdict.reason === 'size' ? 'too_large' : 'rate_limited',
      });
      return refusal(error);
    }
    this.#inFlight++;
    try {
      const outcome = await this.#deps.ingestor.publish({
        admitted: this.#admitted,
        protocol: this.#protocol,
        payload: message.payload,
        bytes: message.bytes,
        clientIp: this.#clientIp,
        header: this.#header,
        idempotencyKey: `stream:${this.session}:${message.id}`,
        schemaVersion: message.schemaVersion,
        traceparent: this.#header('traceparent'),
        tracestate: this.#header('tracestate'),
      });
      if (outcome.ok) this.#acknowledged++;
      return outcome;
    } finally {
      if (--this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** Resolves once no message is in flight. */
  settled(): Promise<void> {
    return this.#inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Gives the places back and notes the session's end; messages in flight finish first. */
  async close(): Promise<void> {
    await this.settled();
    this.#deps.metrics.connections.dec({ tenant: this.#admitted.route.tenant.name, protocol: this.#protocol });
    await Promise.all([
      this.#deps.leases.release(this.#sets, this.member),
      this.#deps.sessions
        .close(this.#admitted, this.session, this.#deps.clock.now(), this.#acknowledged)
        .catch(() => undefined),
    ]);
  }
}

function refusal(error: WeirError): Outcome {
  const seconds = error.details?.retryAfterSeconds;
  return { ok: false, error, headers: seconds === undefined ? {} : { 'Retry-After': String(seconds) } };
}
