/**
 * The limits one request must pass, as a pure function of the tenant's quotas, the
 * policies that apply and the request: first the tenant's `eventsPerSecond` and
 * `bytesPerSecond` across all its pipelines, then every rule of every applying policy, in
 * order. Each limit names its Redis key: keys of one tenant share a hash tag so that one
 * script call can check them all on Redis Cluster too, and the value a rule is keyed by
 * (a claim, a header, an address) is hashed, so a client cannot choose key names.
 */
import { createHash } from 'node:crypto';
import type { RateLimitPolicySpec } from '../../crds/rate-limit-policy.ts';
import type { TenantSpec } from '../../crds/tenant.ts';
import { durationMs } from '../platform/duration.ts';
import { policyKey, type PolicyObject } from './policy-set.ts';

type Rule = RateLimitPolicySpec['rules'][number];

/** The algorithms the limiter script runs. */
export type Algorithm = 'TokenBucket' | 'SlidingWindow';

/** One limit a request is checked against. */
export interface LimitCheck {
  /** Shown in RateLimit headers and metrics: `tenant:events`, `tenant:bytes` or `<policy>/<rule>`. */
  id: string;
  /** Redis key of the limit's state. */
  key: string;
  algorithm: Algorithm;
  /** Units (requests, events or bytes) allowed per period. */
  rate: number;
  periodMs: number;
  /** Most units allowed at once (token bucket capacity); the sliding window uses `rate`. */
  burst: number;
  /** Units this request takes. */
  cost: number;
  /** Counted but never refusing (the policy's Shadow mode). */
  shadow: boolean;
  /** Whether the request is refused when Redis cannot be asked (FailClosed). */
  failClosed: boolean;
}

/** What the plan needs to know of a request. */
export interface LimitRequest {
  tenant: string;
  /** Events the request carries (1 for a single event). */
  events: number;
  /** Payload bytes. */
  bytes: number;
  clientIp: string;
  /** Claims of the verified token. */
  claims: Readonly<Record<string, unknown>>;
  /** A request header by lower-case name. */
  header: (name: string) => string | undefined;
}

/** How the tenant's own quotas behave when Redis is away; policies say so for their rules. */
export interface QuotaSettings {
  failClosed: boolean;
}

/** The value standing for "this request has no such header or claim": such requests share one bucket. */
export const ABSENT = '-';

/** A short, fixed-length stand-in for a client-chosen value in a key name. */
export function hashValue(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

/** The value a rule counts the request under. */
export function ruleKeyValue(rule: Rule, request: LimitRequest): string {
  switch (rule.key.source) {
    case 'Global':
      return '';
    case 'ClientIP':
      return request.clientIp;
    case 'Header':
      return request.header(rule.key.name!.toLowerCase()) ?? ABSENT;
    case 'TokenClaim': {
      const claim = request.claims[rule.key.name!];
      if (claim === undefined || claim === null) return ABSENT;
      return typeof claim === 'string' ? claim : JSON.stringify(claim);
    }
  }
}

/** Redis key prefix of one tenant's limiter state; the braces are the Redis Cluster hash tag. */
export function tenantKeyPrefix(tenant: string): string {
  return `weir:rl:{${tenant}}`;
}

const short = (algorithm: Algorithm) => (algorithm === 'TokenBucket' ? 'tb' : 'sw');

/** The tenant's quota checks: events and bytes per second, token buckets with one second of burst. */
export function quotaChecks(
  tenant: string,
  quotas: Pick<TenantSpec['quotas'], 'eventsPerSecond' | 'bytesPerSecond'>,
  request: Pick<LimitRequest, 'events' | 'bytes'>,
  settings: QuotaSettings,
): LimitCheck[] {
  const base = { algorithm: 'TokenBucket' as const, periodMs: 1000, shadow: false, failClosed: settings.failClosed };
  return [
    {
      ...base,
      id: 'tenant:events',
      key: `${tenantKeyPrefix(tenant)}:tb:q:events`,
      rate: quotas.eventsPerSecond,
      burst: quotas.eventsPerSecond,
      cost: request.events,
    },
    {
      ...base,
      id: 'tenant:bytes',
      key: `${tenantKeyPrefix(tenant)}:tb:q:bytes`,
      rate: quotas.bytesPerSecond,
      burst: quotas.bytesPerSecond,
      cost: request.bytes,
    },
  ];
}

/** The check of one policy rule for one request. */
export function ruleCheck(policy: PolicyObject, rule: Rule, request: LimitRequest): LimitCheck {
  const value = ruleKeyValue(rule, request);
  const id = `${policy.metadata?.name ?? ''}/${rule.name}`;
  return {
    id,
    key: `${tenantKeyPrefix(request.tenant)}:${short(rule.algorithm)}:p:${policyKey(policy)}/${rule.name}:${rule.key.source}:${hashValue(value)}`,
    algorithm: rule.algorithm,
    rate: rule.rate,
    periodMs: durationMs(rule.per),
    burst: rule.algorithm === 'TokenBucket' ? (rule.burst ?? rule.rate) : rule.rate,
    cost: rule.unit === 'Bytes' ? request.bytes : rule.cost,
    shadow: policy.spec.mode === 'Shadow',
    failClosed: policy.spec.onStoreFailure === 'FailClosed',
  };
}

/** Every check of a request: the tenant's quotas, then each rule of each policy in order. */
export function planLimits(
  quotas: Pick<TenantSpec['quotas'], 'eventsPerSecond' | 'bytesPerSecond'>,
  policies: readonly PolicyObject[],
  request: LimitRequest,
  settings: QuotaSettings,
): LimitCheck[] {
  return [
    ...quotaChecks(request.tenant, quotas, request, settings),
    ...policies.flatMap((policy) => policy.spec.rules.map((rule) => ruleCheck(policy, rule, request))),
  ];
}
