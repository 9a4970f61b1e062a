import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ABSENT, hashValue, planLimits, ruleKeyValue, type LimitRequest } from './limit-plan.ts';
import { policy, rule } from './testing/policies.ts';

const quotas = { eventsPerSecond: 100, bytesPerSecond: 4096 };

function request(changes: Partial<LimitRequest> = {}): LimitRequest {
  return {
    tenant: 'acme',
    events: 3,
    bytes: 900,
    clientIp: '10.1.2.3',
    claims: { sub: 'device-7', plan: 'gold', groups: ['a', 'b'] },
    header: (name) => ({ 'x-device': 'd-42' })[name],
    ...changes,
  };
}

describe('the limits of a request', () => {
  it("starts with the tenant's events and bytes per second, charged with the request's events and bytes", () => {
    const [events, bytes] = planLimits(quotas, [], request(), { failClosed: false });
    assert.deepEqual(
      { id: events!.id, rate: events!.rate, burst: events!.burst, cost: events!.cost, periodMs: events!.periodMs },
      { id: 'tenant:events', rate: 100, burst: 100, cost: 3, periodMs: 1000 },
    );
    assert.deepEqual(
      { id: bytes!.id, rate: bytes!.rate, cost: bytes!.cost },
      { id: 'tenant:bytes', rate: 4096, cost: 900 },
    );
  });

  it('adds each rule of each policy in order after the quotas', () => {
    const a = policy('a', { rules: [rule('one'), rule('two')] });
    const b = policy('b', { rules: [rule('three')] });
    assert.deepEqual(
      planLimits(quotas, [a, b], request(), { failClosed: false }).map((c) => c.id),
      ['tenant:events', 'tenant:bytes', 'a/one', 'a/two', 'b/three'],
    );
  });

  it("charges a request-counted rule its cost and a byte-counted rule the request's bytes", () => {
    const p = policy('p', { rules: [rule('req', { cost: 5 }), rule('size', { unit: 'Bytes', rate: 10_000 })] });
    const [, , req, size] = planLimits(quotas, [p], request(), { failClosed: false });
    assert.equal(req!.cost, 5);
    assert.equal(size!.cost, 900);
  });

  it('reads the rate period, burst and algorithm from the rule', () => {
    const p = policy('p', {
      rules: [
        rule('tb', { rate: 50, per: '1m', burst: 80 }),
        rule('sw', { rate: 50, per: '500ms', burst: 80, algorithm: 'SlidingWindow' }),
        rule('plain', { rate: 7 }),
      ],
    });
    const [, , tb, sw, plain] = planLimits(quotas, [p], request(), { failClosed: false });
    assert.deepEqual([tb!.periodMs, tb!.burst, tb!.algorithm], [60_000, 80, 'TokenBucket']);
    // A sliding window has no burst beyond its rate.
    assert.deepEqual([sw!.periodMs, sw!.burst, sw!.algorithm], [500, 50, 'SlidingWindow']);
    assert.equal(plain!.burst, 7);
  });

  it("marks a Shadow policy's limits as shadow and a FailClosed policy's as failing closed", () => {
    const shadow = policy('s', { rules: [rule('r')], mode: 'Shadow' });
    const closed = policy('c', { rules: [rule('r2')], onStoreFailure: 'FailClosed' });
    const [q, , s, c] = planLimits(quotas, [shadow, closed], request(), { failClosed: true });
    assert.deepEqual([q!.shadow, q!.failClosed], [false, true]);
    assert.deepEqual([s!.shadow, s!.failClosed], [true, false]);
    assert.deepEqual([c!.shadow, c!.failClosed], [false, true]);
  });

  it("keeps every key of a tenant under the tenant's hash tag and hides the keyed value behind a hash", () => {
    const p = policy('p', { rules: [rule('dev', { key: { source: 'Header', name: 'X-Device' } })] });
    const keys = planLimits(quotas, [p], request(), { failClosed: false }).map((c) => c.key);
    assert.ok(
      keys.every((k) => k.startsWith('weir:rl:{acme}:')),
      keys.join(' '),
    );
    assert.ok(keys[2]!.endsWith(`:${hashValue('d-42')}`), keys[2]);
    assert.ok(!keys[2]!.includes('d-42'));
  });

  it("gives two tenants' identical rules different keys", () => {
    const p = policy('p', { rules: [rule('r')] });
    const [, , mine] = planLimits(quotas, [p], request(), { failClosed: false });
    const [, , theirs] = planLimits(quotas, [p], request({ tenant: 'globex' }), { failClosed: false });
    assert.notEqual(mine!.key, theirs!.key);
  });

  it('keeps token-bucket and sliding-window state under different keys, so switching cannot mix them', () => {
    const tb = policy('p', { rules: [rule('r')] });
    const sw = policy('p', { rules: [rule('r', { algorithm: 'SlidingWindow' })] });
    assert.notEqual(
      planLimits(quotas, [tb], request(), { failClosed: false })[2]!.key,
      planLimits(quotas, [sw], request(), { failClosed: false })[2]!.key,
    );
  });
});

describe('the value a rule counts a request under', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['one value for everyone with a Global key', { source: 'Global' }, ''],
    ["the client's address with a ClientIP key", { source: 'ClientIP' }, '10.1.2.3'],
    [
      "the header's value with a Header key, whatever the case of its name",
      { source: 'Header', name: 'X-Device' },
      'd-42',
    ],
    ['a shared value for requests without the header', { source: 'Header', name: 'x-missing' }, ABSENT],
    ["the claim's value with a TokenClaim key", { source: 'TokenClaim', name: 'sub' }, 'device-7'],
    ['the JSON of a claim that is not a string', { source: 'TokenClaim', name: 'groups' }, '["a","b"]'],
    ['a shared value for tokens without the claim', { source: 'TokenClaim', name: 'org' }, ABSENT],
  ];
  for (const [name, key, expected] of cases) {
    it(`is ${name}`, () => {
      const [r] = policy('p', { rules: [rule('r', { key })] }).spec.rules;
      assert.equal(ruleKeyValue(r!, request()), expected);
    });
  }
});
