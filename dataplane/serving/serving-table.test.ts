import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { TenantSpec } from '../../crds/tenant.ts';
import { buildServingTable, pipelinesOf } from './serving-table.ts';

const tenant = (name: string, namespace?: string, deleting = false) => ({
  metadata: { name, ...(deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}) },
  spec: TenantSpec.parse({ owners: [{ kind: 'User', name: 'ana' }], ...(namespace ? { namespace } : {}) }),
});
const spec = (sinks: object) =>
  PipelineSpec.parse({
    aggregate: [
      {
        name: 'per_user',
        window: { type: 'Tumbling', size: '1m' },
        eventTime: { field: '/ts' },
        groupBy: ['/user'],
        measures: [{ name: 'n', type: 'Count' }],
      },
    ],
    sinks,
  });
const pipeline = (namespace: string, name: string, sinks: object = { redis: {}, postgres: { table: 'results' } }) => ({
  metadata: { namespace, name },
  spec: spec(sinks),
});

describe('the serving table', () => {
  it('files each pipeline under the tenant that owns its namespace, with its stores', () => {
    const table = buildServingTable(
      [tenant('acme'), tenant('globex', 'globex-prod')],
      [pipeline('tenant-acme', 'orders'), pipeline('globex-prod', 'orders', { redis: {} })],
    );
    const acme = pipelinesOf(table, 'acme').get('tenant-acme/orders')!;
    assert.deepEqual(acme.history, { schema: 'weir_tenant_acme', table: 'results' });
    assert.equal(acme.current, true);
    assert.deepEqual([...acme.aggregations.keys()], ['per_user']);
    const globex = pipelinesOf(table, 'globex').get('globex-prod/orders')!;
    assert.equal(globex.history, undefined);
    assert.equal(pipelinesOf(table, 'acme').get('globex-prod/orders'), undefined);
  });

  it('leaves out pipelines of namespaces no live tenant owns, and objects being deleted', () => {
    const table = buildServingTable(
      [tenant('acme'), tenant('gone', undefined, true)],
      [pipeline('default', 'stray'), pipeline('tenant-gone', 'orders')],
    );
    assert.equal(table.pipelinesByTenant.size, 0);
    assert.deepEqual([...table.tenantsByName.keys()], ['acme']);
    assert.equal(pipelinesOf(table, 'nobody').size, 0);
  });
});
