import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APPLIED_POLICIES_ANNOTATION,
  appliedBy,
  decodeApplied,
  encodeApplied,
  gatewayLeaseName,
  nextExpiry,
  type GatewayLease,
} from './applied-policies.ts';

const NOW = Date.parse('2030-01-01T00:00:30Z');
const lease = (name: string, renewed: string, applied: Record<string, number>): GatewayLease => ({
  metadata: { name, annotations: { [APPLIED_POLICIES_ANNOTATION]: encodeApplied(new Map(Object.entries(applied))) } },
  spec: { renewTime: renewed, leaseDurationSeconds: 30 },
});

describe('what gateways report they apply', () => {
  it('round-trips through the annotation', () => {
    assert.deepEqual(
      decodeApplied(
        encodeApplied(
          new Map([
            ['ns/b', 2],
            ['ns/a', 1],
          ]),
        ),
      ),
      new Map([
        ['ns/a', 1],
        ['ns/b', 2],
      ]),
    );
  });

  it('reads an unreadable annotation as applying nothing', () => {
    for (const value of [undefined, '', 'not json', '[1]', '{"ns/a":"1"}']) assert.equal(decodeApplied(value).size, 0);
  });

  it('counts the live leases that apply the current generation, not older ones or expired leases', () => {
    const leases = [
      lease('a', '2030-01-01T00:00:20Z', { 'ns/p': 3 }),
      lease('b', '2030-01-01T00:00:25Z', { 'ns/p': 2 }),
      lease('c', '2029-12-31T23:59:00Z', { 'ns/p': 3 }),
      lease('d', '2030-01-01T00:00:29Z', { 'ns/p': 3, 'ns/q': 1 }),
    ];
    assert.equal(appliedBy(leases, 'ns/p', 3, NOW), 2);
    assert.equal(appliedBy(leases, 'ns/q', 1, NOW), 1);
    assert.equal(nextExpiry(leases, NOW), Date.parse('2030-01-01T00:00:50Z'));
  });

  it('names a gateway lease after its id, within the rules of names', () => {
    assert.equal(gatewayLeaseName('weir-gateway-7d9f-x2'), 'weir-gateway-weir-gateway-7d9f-x2');
    assert.equal(gatewayLeaseName('Gw_1!'), 'weir-gateway-gw-1');
  });
});
