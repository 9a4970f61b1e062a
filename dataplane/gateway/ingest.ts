/**
 * What happens to events whatever protocol brought them: find the pipeline and its
 * tenant, check the client's address and token, then — for each request or stream message
 * — rate-limit, validate, claim the idempotency key, write to Kafka and wait for its
 * acknowledgement. REST, WebSocket and gRPC differ only in how they read requests and
 * write answers.
 *
 * The order is chosen for hostile traffic: nothing costly happens before the token is
 * checked, and limits are charged before validation, so invalid floods are limited too.
 * A token is checked against the tenant that owns the namespace before the gateway says
 * whether the pipeline exists, so no one learns another tenant's pipeline names.
 */
import { randomUUID } from 'node:crypto';
import type { BearerResult } from '../../lib/auth/bearer-token.ts';
import type { VerifiedToken } from '../../lib/auth/token-verifier.ts';
import type { Clock, TimerHandle } from '../../lib/clock/clock.ts';
import { Errors, WeirError, weirError } from '../../lib/errors/errors.ts';
import { certainlyNotWritten, type EventProducer } from '../../lib/kafka/producer.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import { continueTrace, passTraceState } from '../../lib/observability/trace-context.ts';
import { checkIp } from '../../lib/ratelimit/ip-filter.ts';
import { planLimits } from '../../lib/ratelimit/limit-plan.ts';
import { rateLimitHeaders, retryAfterSeconds } from '../../lib/ratelimit/rate-limit-headers.ts';
import type { LimitDecision, RedisLimiter } from '../../lib/ratelimit/redis-limiter.ts';
import { eventRecord, partitionKey, type RecordContext } from './event-records.ts';
import type { GatewayConfig } from './gateway-config.ts';
import type { GatewayMetrics, RejectReason } from './gateway-metrics.ts';
import type { IdempotencyStore, Scope } from './idempotency.ts';
import { invalidEvents, type EventProblem, type ParsedEvent } from './request-body.ts';
import type { PipelineRoute, Protocol } from './routing-table.ts';
import type { SchemaRegistry } from './schema-registry.ts';

/** An idempotency key this request claimed. */
interface Claimed {
  key: string;
  scope: Scope;
}

/** Who sends: the verified token and the route it may write to. */
export interface Admitted {
  route: PipelineRoute;
  token: VerifiedToken;
}

/** Events of one request or stream message. */
export type Payload = { kind: 'events'; events: ParsedEvent[]; batch: boolean } | { kind: 'protobuf'; bytes: Buffer };

/** One request or stream message to publish. */
export interface PublishInput {
  admitted: Admitted;
  protocol: Protocol;
  payload: Payload;
  /** Bytes the client sent, charged to byte limits. */
  bytes: number;
  clientIp: string;
  header: (name: string) => string | undefined;
  idempotencyKey: string | undefined;
  schemaVersion: number | undefined;
  traceparent: string | undefined;
  tracestate: string | undefined;
  /** When the client stops waiting (ms since the epoch); the gateway's own timeout unless earlier. */
  deadline?: number;
}

/** How a publish ended, with the headers (RateLimit, Retry-After) to answer with. */
export type Outcome =
  | { ok: true; ids: string[]; replayed: boolean; headers: Record<string, string> }
  | { ok: false; error: WeirError; headers: Record<string, string> };

/** Options for {@link Ingestor}. */
export interface IngestorOptions {
  config: GatewayConfig;
  limiter: RedisLimiter;
  idempotency: IdempotencyStore;
  schemas: SchemaRegistry;
  producer: EventProducer;
  metrics: GatewayMetrics;
  clock: Clock;
  log: Logger;
  /** Whether the tenant quotas refuse requests while Redis is away. */
  quotaFailClosed: boolean;
  /** Longest a request waits for Kafka before it is answered 503; the write goes on. */
  produceTimeoutMs: number;
}

const REASONS: [WeirErrorCode: string, reason: RejectReason][] = [
  [Errors.Unauthenticated.code, 'unauthenticated'],
  [Errors.InvalidToken.code, 'unauthenticated'],
  [Errors.IssuerUnavailable.code, 'unauthenticated'],
  [Errors.Forbidden.code, 'forbidden'],
  [Errors.NotFound.code, 'not_found'],
  [Errors.InvalidEvent.code, 'invalid'],
  [Errors.InvalidRequest.code, 'invalid'],
  [Errors.PayloadTooLarge.code, 'too_large'],
  [Errors.UnsupportedMediaType.code, 'unsupported_media_type'],
  [Errors.RateLimited.code, 'rate_limited'],
  [Errors.QuotaExceeded.code, 'rate_limited'],
  [Errors.TooManyConnections.code, 'rate_limited'],
  [Errors.RedisUnavailable.code, 'store_unavailable'],
  [Errors.KafkaUnavailable.code, 'kafka_unavailable'],
  [Errors.KafkaRequestFailed.code, 'kafka_unavailable'],
  [Errors.NotReady.code, 'not_ready'],
  [Errors.ShuttingDown.code, 'not_ready'],
  [Errors.Conflict.code, 'conflict'],
];
const reasonByCode = new Map(REASONS);

/** The metering reason of an error. */
export function rejectReason(err: WeirError): RejectReason {
  return err.details?.ipDenied ? 'ip_denied' : (reasonByCode.get(err.code) ?? 'internal');
}

/** Checks clients and publishes their events. */
export class Ingestor {
  #o: IngestorOptions;

  constructor(options: IngestorOptions) {
    this.#o = options;
  }

  /**
   * The pipeline and the verified token of a client, or the error to refuse it with:
   * NotFound for a namespace no tenant owns, Forbidden for a denied address, Unauthenticated
   * or InvalidToken for a missing or bad token, Forbidden for another tenant's token, and
   * NotFound for a pipeline that does not exist or does not accept this protocol — the last
   * only once the token is known to be the namespace tenant's.
   */
  async admit(
    namespace: string,
    name: string,
    protocol: Protocol,
    bearer: BearerResult,
    clientIp: string,
  ): Promise<Admitted> {
    const notFound = () =>
      weirError(Errors.NotFound, `no pipeline ${namespace}/${name} accepts events over ${protocolName(protocol)}`);
    const tenant = this.#o.config.tenantOf(namespace);
    if (!tenant) throw notFound();
    const route = this.#o.config.route(namespace, name);
    if (route) {
      const ip = checkIp(route.ipFilter, clientIp);
      if (!ip.allowed)
        throw weirError(
          Errors.Forbidden,
          ip.reason === 'denied'
            ? `client address ${clientIp} is denied for this pipeline`
            : `client address ${clientIp} is not in the networks allowed for this pipeline`,
          { details: { ipDenied: true } },
        );
    }
    if ('missing' in bearer)
      throw weirError(Errors.Unauthenticated, 'a bearer token is required (Authorization: Bearer <token>)');
    if ('malformed' in bearer) throw weirError(Errors.InvalidToken, bearer.malformed);
    const verifier = this.#o.config.verifier(tenant.name);
    if (!verifier || !tenant.spec.auth?.issuers.length)
      throw weirError(Errors.InvalidToken, `tenant ${tenant.name} trusts no token issuers (spec.auth.issuers)`);
    const token = await verifier.verify(bearer.token);
    if (!route || !route.ingestion[protocol]) throw notFound();
    return { route, token };
  }

  /** Limits, validates and writes one request's events; never throws. */
  async publish(input: PublishInput): Promise<Outcome> {
    const { route } = input.admitted;
    let headers: Record<string, string> = {};
    let claimed: Claimed | undefined;
    try {
      const schema = await this.#o.schemas.schemaFor(route, input.schemaVersion);
      let events: ParsedEvent[];
      let batch: boolean;
      if (input.payload.kind === 'protobuf') {
        if (!schema.decode)
          throw weirError(Errors.UnsupportedMediaType, `pipeline ${route.key} takes JSON events, not protobuf`);
        const value = schema.decode(input.payload.bytes);
        events = [{ value, json: Buffer.from(JSON.stringify(value)) }];
        batch = false;
      } else {
        ({ events, batch } = input.payload);
      }

      const decision = await this.#limit(input, events.length);
      headers = rateLimitHeaders(decision);
      if (!decision.allowed) return this.#refused(input, limitError(decision), headers, events.length);

      const keys: Buffer[] = [];
      const problems: EventProblem[] = [];
      events.forEach((event, i) => {
        const prefix = batch ? `/${i}` : '';
        for (const p of schema.validate(event.value))
          problems.push({ pointer: `${prefix}${p.pointer}`, message: p.message });
        const key = partitionKey(event.value, route.partitionKey, route.tenant.name);
        if ('problem' in key)
          problems.push({ pointer: `${prefix}${key.problem.pointer}`, message: key.problem.message });
        else keys.push(key.key);
      });
      if (problems.length) {
        this.#o.metrics.invalidEvents.inc({ tenant: route.tenant.name, pipeline: route.key }, events.length);
        return this.#refused(input, invalidEvents(problems), headers, events.length);
      }
      if (!route.topic)
        throw weirError(Errors.NotReady, `pipeline ${route.key} has no input topic yet; try again shortly`);

      const scope = { tenant: route.tenant.name, pipeline: route.key };
      if (input.idempotencyKey !== undefined) {
        const claim = await this.#claim(scope, input.idempotencyKey, route.failClosed);
        if (claim?.kind === 'done') return this.#accepted(input, claim.ids, true, headers, events, 0);
        if (claim?.kind === 'pending')
          throw weirError(Errors.Conflict, 'a request with this Idempotency-Key is being written; try again shortly', {
            details: { retryAfterSeconds: 1 },
          });
        if (claim) claimed = { key: input.idempotencyKey, scope };
      }

      const ids = events.map(() => randomUUID());
      const ctx: RecordContext = {
        topic: route.topic,
        tenant: route.tenant.name,
        pipeline: route.key,
        schemaVersion: route.schema ? schema.version : undefined,
        idempotencyKey: input.idempotencyKey,
        traceparent: continueTrace(input.traceparent),
        tracestate: passTraceState(input.tracestate),
        receivedAt: this.#o.clock.now(),
      };
      const records = events.map((e, i) => eventRecord(e, keys[i]!, ids[i]!, ctx));
      const sending = this.#o.producer.send(records);
      try {
        await this.#withDeadline(sending, input.deadline);
      } catch (err) {
        // The client is answered now; the claim follows the write until Kafka settles it.
        if (claimed) this.#settleClaim(claimed, sending, ids);
        claimed = undefined;
        throw err;
      }
      if (claimed) {
        await this.#o.idempotency
          .complete(claimed.scope, claimed.key, ids)
          .catch((err: Error) =>
            this.#o.log.warn(
              { pipeline: route.key, err: { message: err.message } },
              'recording an idempotent request failed',
            ),
          );
      }
      return this.#accepted(input, ids, false, headers, events, input.bytes);
    } catch (err) {
      if (claimed) await this.#release(claimed);
      const error =
        err instanceof WeirError ? err : weirError(Errors.Internal, 'the gateway failed to handle the request');
      if (error.code === Errors.Internal.code) this.#o.log.error({ err, pipeline: route.key }, 'publish failed');
      return this.#refused(input, error, headers, eventCount(input.payload));
    }
  }

  async #limit(input: PublishInput, events: number): Promise<LimitDecision> {
    const { route, token } = input.admitted;
    const checks = planLimits(
      route.tenant.spec.quotas,
      route.policies,
      {
        tenant: route.tenant.name,
        events,
        bytes: input.bytes,
        clientIp: input.clientIp,
        claims: token.claims,
        header: input.header,
      },
      { failClosed: this.#o.quotaFailClosed },
    );
    const started = performance.now();
    const decision = await this.#o.limiter.decide(checks);
    this.#o.metrics.limiterDecisions.observe({ source: decision.source }, (performance.now() - started) / 1000);
    if (decision.source !== 'store') this.#o.metrics.storeUnavailable.inc({ mode: decision.source });
    const labels = { tenant: route.tenant.name, pipeline: route.key };
    for (const r of decision.shadowDenied)
      this.#o.metrics.eventsShadowLimited.inc({ ...labels, limit: r.check.id }, events);
    if (!decision.allowed) {
      const first = decision.deniedBy[0];
      this.#o.metrics.eventsLimited.inc({ ...labels, limit: first?.check.id ?? 'store-unavailable' }, events);
    }
    return decision;
  }

  async #claim(scope: Scope, key: string, failClosed: boolean) {
    try {
      return await this.#o.idempotency.claim(scope, key);
    } catch (err) {
      // Without Redis a retry cannot be recognized: FailClosed refuses, FailOpen writes without the check.
      if (failClosed) throw err;
      this.#o.log.warn({ pipeline: scope.pipeline }, 'idempotency store unavailable; writing without the check');
      return undefined;
    }
  }

  /**
   * After the client was refused while its write was unsettled: the claim stays pending
   * (renewed) while the write is with Kafka, becomes done if the write lands after all, and
   * is released only once nothing of it can have reached Kafka. A write that failed without
   * that certainty keeps its claim until `pendingMs` passes.
   */
  #settleClaim(claimed: Claimed, sending: Promise<void>, ids: string[]): void {
    let timer: TimerHandle | undefined;
    const renew = () => {
      timer = this.#o.clock.setTimeout(() => {
        void this.#o.idempotency
          .renew(claimed.scope, claimed.key)
          .catch(() => true)
          .then((held) => held && timer !== undefined && renew());
      }, this.#o.idempotency.pendingMs / 3);
    };
    renew();
    const stop = () => {
      if (timer !== undefined) this.#o.clock.clearTimeout(timer);
      timer = undefined;
    };
    sending.then(
      () => {
        stop();
        this.#o.idempotency
          .complete(claimed.scope, claimed.key, ids)
          .catch((err: Error) =>
            this.#o.log.warn(
              { pipeline: claimed.scope.pipeline, err: { message: err.message } },
              'recording a late idempotent write failed',
            ),
          );
      },
      (err: unknown) => {
        stop();
        if (certainlyNotWritten(err)) void this.#release(claimed);
      },
    );
  }

  async #release(claimed: Claimed): Promise<void> {
    await this.#o.idempotency.release(claimed.scope, claimed.key).catch(() => undefined);
  }

  #withDeadline<T>(work: Promise<T>, deadline: number | undefined): Promise<T> {
    const ms = Math.min(this.#o.produceTimeoutMs, deadline === undefined ? Infinity : deadline - this.#o.clock.now());
    if (!(ms > 0))
      return Promise.reject(weirError(Errors.DeadlineExceeded, 'the deadline passed before Kafka answered'));
    return new Promise<T>((resolve, reject) => {
      const timer = this.#o.clock.setTimeout(
        () =>
          reject(
            ms < this.#o.produceTimeoutMs
              ? weirError(Errors.DeadlineExceeded, 'the deadline passed before Kafka answered')
              : weirError(Errors.KafkaUnavailable, `Kafka did not acknowledge within ${ms} ms; try again shortly`),
          ),
        ms,
      );
      work.then(
        (v) => {
          this.#o.clock.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          this.#o.clock.clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  #accepted(
    input: PublishInput,
    ids: string[],
    replayed: boolean,
    headers: Record<string, string>,
    events: ParsedEvent[],
    bytes: number,
  ): Outcome {
    const labels = {
      tenant: input.admitted.route.tenant.name,
      pipeline: input.admitted.route.key,
      protocol: input.protocol,
    };
    if (!replayed) {
      this.#o.metrics.eventsAccepted.inc(labels, events.length);
      this.#o.metrics.bytesAccepted.inc(labels, bytes);
    }
    return { ok: true, ids, replayed, headers };
  }

  #refused(input: PublishInput, error: WeirError, headers: Record<string, string>, events: number): Outcome {
    const { route } = input.admitted;
    this.#o.metrics.eventsRejected.inc(
      { tenant: route.tenant.name, pipeline: route.key, protocol: input.protocol, reason: rejectReason(error) },
      Math.max(1, events),
    );
    return { ok: false, error, headers: withRetryAfter(headers, error) };
  }
}

function protocolName(protocol: Protocol): string {
  return { rest: 'REST', webSocket: 'WebSocket', grpc: 'gRPC' }[protocol];
}

function eventCount(payload: Payload): number {
  return payload.kind === 'events' ? payload.events.length : 1;
}

/** The error of a refused decision: the first enforced limit that refused, or the store's absence. */
function limitError(decision: LimitDecision): WeirError {
  if (decision.source === 'failClosed')
    return weirError(Errors.RedisUnavailable, 'the rate-limit store is unavailable and a policy fails closed', {
      details: { retryAfterSeconds: 1 },
    });
  const first = decision.deniedBy[0]!;
  if (decision.retryAfterMs < 0)
    return weirError(
      Errors.PayloadTooLarge,
      `the request costs more than limit ${first.check.id} allows at once (${first.check.burst})`,
      {
        details: { limit: first.check.id },
      },
    );
  const quota = first.check.id.startsWith('tenant:');
  return weirError(
    quota ? Errors.QuotaExceeded : Errors.RateLimited,
    `${quota ? 'the tenant quota' : 'rate limit'} ${first.check.id} is exhausted: ${first.check.rate} per ${first.check.periodMs / 1000} s`,
    { details: { limit: first.check.id, retryAfterSeconds: retryAfterSeconds(decision) } },
  );
}

/** Headers of a refusal: a Retry-After for errors that passing time can fix. */
function withRetryAfter(headers: Record<string, string>, error: WeirError): Record<string, string> {
  if (headers['Retry-After'] || !error.retryable) return headers;
  const seconds = (error.details?.retryAfterSeconds as number | undefined) ?? 1;
  return { ...headers, 'Retry-After': String(seconds) };
}
