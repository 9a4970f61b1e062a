import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APPLIED_POLICIES_ANNOTATION,
  GATEWAY_LEASE_LABEL,
  encodeApplied,
} from '../../lib/ratelimit/applied-policies.ts';
import { policy, rule } from '../../lib/ratelimit/testing/policies.ts';
import { planPolicyStatus } from './policy-status.ts';

const NOW = Date.parse('2030-01-01T00:01:00Z');
const lease = (name: string, renewed: string, applied: Record<string, number>, gateway = true) => ({
  metadata: {
    name,
    labels: gateway ? { [GATEWAY_LEASE_LABEL]: 'true' } : ({} as Record<string, string>),
    annotations: { [APPLIED_POLICIES_ANNOTATION]: encodeApplied(new Map(Object.entries(applied))) },
  },
  spec: { renewTime: renewed, leaseDurationSeconds: 30 },
});

describe("a rate-limit policy's status", () => {
  const mine = policy('mine', { rules: [rule('r')] }, { generation: 2, created: '2030-01-01T00:00:00Z' });

  it('is accepted and ready when live gateways apply its generation, counting only those', () => {
    const plan = planPolicyStatus(
      mine,
      [mine],
      [
        lease('a', '2030-01-01T00:00:50Z', { 'tenant-acme/mine': 2 }),
        lease('b', '2030-01-01T00:00:55Z', { 'tenant-acme/mine': 1 }),
        lease('c', '2030-01-01T00:00:10Z', { 'tenant-acme/mine': 2 }),
        lease('operator', '2030-01-01T00:00:59Z', { 'tenant-acme/mine': 2 }, false),
      ],
      NOW,
    );
    assert.equal(plan.next.appliedBy, 1);
    assert.deepEqual(
      plan.next.conditions!.map((c) => [c.type, c.status, c.reason]),
      [
        ['Accepted', 'True', 'Accepted'],
        ['Ready', 'True', 'Applied'],
      ],
    );
    // Lease a expires at 00:01:20; the count must drop then.
    assert.equal(plan.requeueAfterMs, 21_000);
  });

  it('is accepted but not ready while no gateway applies its generation yet', () => {
    const plan = planPolicyStatus(mine, [mine], [], NOW);
    assert.deepEqual(
      [plan.next.appliedBy, plan.next.conditions!.find((c) => c.type === 'Ready')!.reason, plan.requeueAfterMs],
      [0, 'NotApplied', undefined],
    );
  });

  it('is conflicted when an older policy has a rule of the same name for the same target, and says which', () => {
    const older = policy('older', { rules: [rule('r')] }, { created: '2029-12-31T00:00:00Z' });
    const plan = planPolicyStatus(
      mine,
      [mine, older],
      [lease('a', '2030-01-01T00:00:50Z', { 'tenant-acme/mine': 2 })],
      NOW,
    );
    assert.deepEqual(plan.next.conflicts, ['older']);
    assert.deepEqual(
      plan.next.conditions!.map((c) => [c.type, c.status, c.reason]),
      [
        ['Accepted', 'False', 'Conflicted'],
        ['Ready', 'False', 'Conflicted'],
      ],
    );
    assert.match(
      plan.next.conditions!.find((c) => c.type === 'Accepted')!.message ?? '',
      /older policy older already defines/,
    );
  });

  it('names its conflicts even when it is the one accepted', () => {
    const newer = policy('newer', { rules: [rule('r')] }, { created: '2030-01-02T00:00:00Z' });
    const plan = planPolicyStatus(mine, [mine, newer], [], NOW);
    assert.deepEqual(plan.next.conflicts, ['newer']);
    assert.equal(plan.next.conditions!.find((c) => c.type === 'Accepted')!.status, 'True');
  });
});
