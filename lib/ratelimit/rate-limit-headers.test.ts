import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LimitCheck } from './limit-plan.ts';
import { rateLimitHeaders, retryAfterSeconds, sfString } from './rate-limit-headers.ts';
import type { LimitDecision, LimitResult } from './redis-limiter.ts';

function result(id: string, fields: Partial<LimitResult> = {}, check: Partial<LimitCheck> = {}): LimitResult {
  return {
    allowed: true,
    remaining: 5,
    resetMs: 1500,
    retryAfterMs: 0,
    check: {
      id,
      key: `k:${id}`,
      algorithm: 'TokenBucket',
      rate: 10,
      periodMs: 1000,
      burst: 10,
      cost: 1,
      shadow: false,
      failClosed: false,
      ...check,
    },
    ...fields,
  };
}

function decision(results: LimitResult[], allowed = true, retryAfterMs = 0): LimitDecision {
  return {
    allowed,
    source: 'store',
    results,
    deniedBy: results.filter((r) => !r.allowed),
    shadowDenied: [],
    retryAfterMs,
  };
}

describe('RateLimit header fields', () => {
  it('lists every enforced limit with its quota, window, remaining units and reset', () => {
    const headers = rateLimitHeaders(
      decision([
        result('tenant:events'),
        result('p/per-device', { remaining: 0, resetMs: 60_000 }, { rate: 100, periodMs: 60_000 }),
      ]),
    );
    assert.deepEqual(headers, {
      'RateLimit-Policy': '"tenant:events";q=10;w=1, "p/per-device";q=100;w=60',
      RateLimit: '"tenant:events";r=5;t=2, "p/per-device";r=0;t=60',
    });
  });

  it('leaves shadow limits out: they are not the client’s business', () => {
    const headers = rateLimitHeaders(decision([result('tenant:events'), result('s/r', {}, { shadow: true })]));
    assert.ok(!headers['RateLimit-Policy']!.includes('s/r'));
  });

  it('adds Retry-After in whole seconds, at least one, to a refusal', () => {
    const refused = decision([result('tenant:events', { allowed: false, remaining: 0 })], false, 120);
    assert.equal(rateLimitHeaders(refused)['Retry-After'], '1');
    assert.equal(retryAfterSeconds(decision([], false, 2_001)), 3);
  });

  it('gives no Retry-After when waiting cannot help', () => {
    assert.equal(retryAfterSeconds(decision([], false, -1)), undefined);
  });

  it('gives no fields when a failure mode decided', () => {
    assert.deepEqual(rateLimitHeaders({ ...decision([]), source: 'failOpen' }), {});
  });

  it('escapes quotes and backslashes and replaces what a header cannot carry', () => {
    assert.equal(sfString('a"b\\c\nd'), '"a\\"b\\\\c?d"');
  });
});
