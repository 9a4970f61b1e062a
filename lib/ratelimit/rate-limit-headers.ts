/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-10) of a
 * decision: `RateLimit-Policy` lists each enforced limit as a quota of `q` units per `w`
 * seconds, `RateLimit` its remaining units `r` and the seconds `t` until they are
 * restored, and a refused request gets `Retry-After` in seconds. Limits are named by
 * their id (`tenant:events`, `<policy>/<rule>`) as Structured Field strings.
 */
import type { LimitDecision } from './redis-limiter.ts';

/** A Structured Field string: printable ASCII, with `"` and `\` escaped; anything else becomes `?`. */
export function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Header fields for a decision Redis made; none when it was decided by a failure mode. */
export function rateLimitHeaders(decision: LimitDecision): Record<string, string> {
  const enforced = decision.results.filter((r) => !r.check.shadow);
  if (enforced.length === 0) return {};
  const headers: Record<string, string> = {
    'RateLimit-Policy': enforced
      .map((r) => `${sfString(r.check.id)};q=${r.check.rate};w=${Math.max(1, Math.ceil(r.check.periodMs / 1000))}`)
      .join(', '),
    RateLimit: enforced
      .map((r) => `${sfString(r.check.id)};r=${Math.max(0, r.remaining)};t=${Math.max(0, Math.ceil(r.resetMs / 1000))}`)
      .join(', '),
  };
  const retry = retryAfterSeconds(decision);
  if (retry !== undefined) headers['Retry-After'] = String(retry);
  return headers;
}

/** Seconds a refused request should wait, at least 1; undefined when admitted or when waiting cannot help. */
export function retryAfterSeconds(decision: LimitDecision): number | undefined {
  if (decision.allowed || decision.retryAfterMs < 0) return undefined;
  return Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
}
