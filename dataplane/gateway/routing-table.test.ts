import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { TenantSpec } from '../../crds/tenant.ts';
import { policy, rule } from '../../lib/ratelimit/testing/policies.ts';
import { buildRoutingTable, type PipelineObject, type TenantObject } from './routing-table.ts';

const tenant = (name: string, spec: Record<string, unknown> = {}): TenantObject => ({
  metadata: { name },
  spec: TenantSpec.parse({ owners: [{ kind: 'User', name: 'o' }], ...spec }),
});
const pipeline = (
  namespace: string,
  name: string,
  spec: Record<string, unknown> = {},
  input = true,
): PipelineObject => ({
  metadata: { namespace, name },
  spec: PipelineSpec.parse(spec),
  status: input ? { topics: [{ role: 'Input', name: `weir.${namespace}.${name}.input` }] } : undefined,
});

describe('the routing table', () => {
  it('routes a pipeline to its tenant, input topic, partition key and endpoints', () => {
    const table = buildRoutingTable(
      [tenant('acme')],
      [pipeline('tenant-acme', 'orders', { source: { partitionKey: '/user', ingestion: { webSocket: true } } })],
      [],
    );
    const route = table.pipelines.get('tenant-acme/orders')!;
    assert.equal(route.tenant.name, 'acme');
    assert.equal(route.topic, 'weir.tenant-acme.orders.input');
    assert.equal(route.partitionKey, '/user');
    assert.deepEqual(route.ingestion, { rest: true, webSocket: true, grpc: false });
  });

  it('finds the tenant of a namespace it names itself', () => {
    const table = buildRoutingTable([tenant('acme', { namespace: 'shop' })], [pipeline('shop', 'orders')], []);
    assert.equal(table.tenantsByNamespace.get('shop')?.name, 'acme');
    assert.ok(table.pipelines.has('shop/orders'));
  });

  it('leaves out pipelines in namespaces no tenant owns, and ones being deleted', () => {
    const deleting = {
      ...pipeline('tenant-acme', 'old'),
      metadata: { namespace: 'tenant-acme', name: 'old', deletionTimestamp: 'now' },
    };
    const table = buildRoutingTable([tenant('acme')], [pipeline('default', 'stray'), deleting], []);
    assert.equal(table.pipelines.size, 0);
  });

  it('has no topic for a pipeline whose topics the operator has not claimed, or claimed under another name', () => {
    const odd: PipelineObject = {
      ...pipeline('tenant-acme', 'b'),
      status: { topics: [{ role: 'Input', name: 'weir.tenant-other.b.input' }] },
    };
    const table = buildRoutingTable([tenant('acme')], [pipeline('tenant-acme', 'a', {}, false), odd], []);
    assert.equal(table.pipelines.get('tenant-acme/a')?.topic, undefined);
    assert.equal(table.pipelines.get('tenant-acme/b')?.topic, undefined);
  });

  it("applies the namespace's policies and the pipeline's own, with their stream limits and connection caps", () => {
    const wide = policy('wide', { rules: [rule('w')], streams: { messagesPerSecond: 50, maxConnections: 10 } });
    const own = policy('own', {
      targetRef: { kind: 'Pipeline', name: 'orders' },
      rules: [rule('o')],
      streams: { messagesPerSecond: 20 },
      onStoreFailure: 'FailClosed',
    });
    const other = policy('other', { targetRef: { kind: 'Pipeline', name: 'clicks' }, rules: [rule('c')] });
    const table = buildRoutingTable([tenant('acme')], [pipeline('tenant-acme', 'orders')], [wide, own, other]);
    const route = table.pipelines.get('tenant-acme/orders')!;
    assert.deepEqual(
      route.policies.map((p) => p.metadata?.name),
      ['wide', 'own'],
    );
    assert.deepEqual(route.streamLimits, { messagesPerSecond: 20, maxMessageBytes: undefined });
    assert.deepEqual(
      route.connectionCaps.map((c) => c.cap),
      [10],
    );
    assert.equal(route.failClosed, true);
    assert.deepEqual(Object.fromEntries(table.applied), {
      'tenant-acme/wide': 1,
      'tenant-acme/own': 1,
      'tenant-acme/other': 1,
    });
  });

  it('does not apply a policy that lost a conflict, and says which it lost to', () => {
    const first = policy('first', { rules: [rule('r')] }, { created: '2030-01-01T00:00:00Z' });
    const second = policy('second', { rules: [rule('r')] }, { created: '2030-01-02T00:00:00Z', generation: 4 });
    const table = buildRoutingTable([tenant('acme')], [pipeline('tenant-acme', 'orders')], [first, second]);
    assert.deepEqual(
      table.pipelines.get('tenant-acme/orders')!.policies.map((p) => p.metadata?.name),
      ['first'],
    );
    assert.deepEqual(table.refused.get('tenant-acme/second'), ['first']);
    assert.equal(table.applied.has('tenant-acme/second'), false);
  });

  it("never applies one tenant's policy to another tenant's pipeline", () => {
    const theirs = policy('p', { rules: [rule('r')] }, { namespace: 'tenant-globex' });
    const table = buildRoutingTable([tenant('acme'), tenant('globex')], [pipeline('tenant-acme', 'orders')], [theirs]);
    assert.deepEqual(table.pipelines.get('tenant-acme/orders')!.policies, []);
  });
});
