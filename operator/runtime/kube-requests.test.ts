import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1LimitRange, V1NetworkPolicy } from '@kubernetes/client-node';
import { toWire } from './kube-requests.ts';

/** What goes over the wire: JSON drops the undefined properties the serializer fills in. */
const sent = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('toWire', () => {
  it("spells client-node's typed models the way the API server does", () => {
    const limits: V1LimitRange = { apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'l' }, spec: { limits: [{ type: 'Container', _default: { cpu: '1' } }] } };
    assert.deepEqual(sent(toWire(limits)), { apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'l' }, spec: { limits: [{ type: 'Container', default: { cpu: '1' } }] } });
    const policy: V1NetworkPolicy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: { podSelector: {}, ingress: [{ _from: [{ podSelector: {} }] }] } };
    assert.deepEqual((sent(toWire(policy)) as { spec: unknown }).spec, { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] });
  });

  it('leaves objects of other API groups as they are', () => {
    const tenant = { apiVersion: 'weir.dev/v1alpha1', kind: 'Tenant', metadata: { name: 't' }, spec: { _default: 1 } };
    assert.equal(toWire(tenant), tenant);
  });
});
