import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { TenantSpec } from '../../crds/tenant.ts';
import { Errors } from '../../lib/errors/errors.ts';
import { silentLogger } from '../../lib/observability/logger.ts';
import { buildRoutingTable, type PipelineRoute } from './routing-table.ts';
import { SchemaRegistry, type ConfigMapReader } from './schema-registry.ts';

function route(schema: Record<string, unknown> | undefined, name = 'orders'): PipelineRoute {
  const table = buildRoutingTable(
    [{ metadata: { name: 'acme' }, spec: TenantSpec.parse({ owners: [{ kind: 'User', name: 'o' }] }) }],
    [{ metadata: { namespace: 'tenant-acme', name }, spec: PipelineSpec.parse({ schema }) }],
    [],
  );
  return table.pipelines.get(`tenant-acme/${name}`)!;
}

const orderSchema = (version: number, required: string[]) => ({
  version,
  jsonSchema: {
    type: 'object',
    required,
    properties: { customer: { type: 'string' }, amount: { type: 'number' } },
    additionalProperties: false,
  },
});

function registry(
  configMaps: Record<string, { data?: Record<string, string>; binaryData?: Record<string, string> }> = {},
) {
  let reads = 0;
  const read: ConfigMapReader = async (ns, name) => {
    reads++;
    return configMaps[`${ns}/${name}`];
  };
  return {
    schemas: new SchemaRegistry({ readConfigMap: read, log: silentLogger(), now: () => 0 }),
    reads: () => reads,
  };
}

describe('pipeline schemas', () => {
  it('accepts any object when the pipeline has no schema', async () => {
    const { schemas } = registry();
    assert.deepEqual((await schemas.schemaFor(route(undefined))).validate({ anything: [1] }), []);
  });

  it('reports every problem of an event with pointers, missing and extra properties included', async () => {
    const { schemas } = registry();
    const schema = await schemas.schemaFor(route(orderSchema(1, ['customer', 'amount'])));
    assert.deepEqual(schema.validate({ amount: 'x', extra: 1 }), [
      { pointer: '/customer', message: 'is required' },
      { pointer: '/extra', message: 'is not allowed by the schema' },
      { pointer: '/amount', message: 'must be number' },
    ]);
  });

  it('compiles a version once, and again when its content changes without a new version', async () => {
    const { schemas } = registry();
    const a = await schemas.schemaFor(route(orderSchema(1, ['customer'])));
    assert.equal(await schemas.schemaFor(route(orderSchema(1, ['customer']))), a);
    assert.notEqual(await schemas.schemaFor(route(orderSchema(1, ['amount']))), a);
  });

  it('checks an event against the older version it names, once this gateway has seen that version', async () => {
    const { schemas } = registry();
    await schemas.schemaFor(route(orderSchema(1, ['customer'])));
    const v2 = route(orderSchema(2, ['customer', 'amount']));
    assert.equal((await schemas.schemaFor(v2)).validate({ customer: 'c' }).length, 1);
    assert.deepEqual((await schemas.schemaFor(v2, 1)).validate({ customer: 'c' }), []);
    await assert.rejects(schemas.schemaFor(v2, 7), {
      code: Errors.InvalidEvent.code,
      message: /version 7 .* not known; the current version is 2/,
    });
  });

  it("keeps two pipelines' schemas apart even when they claim the same $id", async () => {
    const { schemas } = registry();
    const one = { version: 1, jsonSchema: { $id: 'https://x/s', type: 'object', required: ['a'] } };
    const two = { version: 1, jsonSchema: { $id: 'https://x/s', type: 'object', required: ['b'] } };
    assert.equal((await schemas.schemaFor(route(one, 'one'))).validate({ b: 1 }).length, 1);
    assert.equal((await schemas.schemaFor(route(two, 'two'))).validate({ a: 1 }).length, 1);
  });

  it('says a schema that does not compile is the configuration at fault', async () => {
    const { schemas } = registry();
    await assert.rejects(schemas.schemaFor(route({ version: 1, jsonSchema: { type: 'not-a-type' } })), {
      code: Errors.InvalidConfig.code,
    });
  });

  it('reads a JSON Schema from a ConfigMap, and reports a missing key as not ready', async () => {
    const { schemas } = registry({
      'tenant-acme/schemas': { data: { 'order.json': JSON.stringify(orderSchema(1, ['customer']).jsonSchema) } },
    });
    const ok = await schemas.schemaFor(route({ version: 1, configMapRef: { name: 'schemas', key: 'order.json' } }));
    assert.equal(ok.validate({}).length, 1);
    await assert.rejects(
      schemas.schemaFor(route({ version: 1, configMapRef: { name: 'schemas', key: 'nope' } }, 'b')),
      {
        code: Errors.NotReady.code,
        message: /has no data key nope/,
      },
    );
  });

  it('decodes and checks protobuf events with the message type of a FileDescriptorSet', async () => {
    const root = protobuf.parse(
      'syntax = "proto3"; package shop.v1; message Click { string user = 1; int64 at = 2; }',
    ).root;
    const set = (descriptor as unknown as { FileDescriptorSet: protobuf.Type }).FileDescriptorSet.encode(
      (root as unknown as { toDescriptor(s: string): protobuf.Message }).toDescriptor('proto3'),
    ).finish();
    const { schemas } = registry({
      'tenant-acme/protos': { binaryData: { 'shop.desc': Buffer.from(set).toString('base64') } },
    });
    const schema = await schemas.schemaFor(
      route({
        version: 1,
        protobuf: { descriptorRef: { name: 'protos', key: 'shop.desc' }, messageType: 'shop.v1.Click' },
      }),
    );
    const Click = root.lookupType('shop.v1.Click');
    assert.deepEqual(schema.decode!(Buffer.from(Click.encode(Click.fromObject({ user: 'u-1', at: 17 })).finish())), {
      user: 'u-1',
      at: '17',
    });
    assert.throws(() => schema.decode!(Buffer.from([0xff, 0xff, 0xff])), { code: Errors.InvalidEvent.code });
    assert.match(schema.validate({ user: 5 })[0]!.message, /is not a shop.v1.Click/);
  });
});
