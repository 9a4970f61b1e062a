import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventRecord, partitionKey, resolvePointer } from './event-records.ts';

describe('JSON pointers into events', () => {
  const event = { user: { id: 'u-1', 'a/b': 1, 'm~n': 2 }, items: [{ sku: 'x' }], zero: 0 };
  const cases: [string, unknown][] = [
    ['/user/id', 'u-1'],
    ['/user/a~1b', 1],
    ['/user/m~0n', 2],
    ['/items/0/sku', 'x'],
    ['/items/1', undefined],
    ['/items/01', undefined],
    ['/zero', 0],
    ['/user/missing', undefined],
    ['/user/id/deeper', undefined],
    ['/constructor', undefined],
  ];
  for (const [pointer, value] of cases)
    it(`resolves ${pointer}`, () => assert.deepEqual(resolvePointer(event, pointer), value));
});

describe('the partition key of an event', () => {
  it("is the tenant's name when the pipeline has none", () => {
    assert.deepEqual(partitionKey({ a: 1 }, undefined, 'acme'), { key: Buffer.from('acme') });
  });
  it('is the pointed-at string as it is, or a number as JSON', () => {
    assert.deepEqual(partitionKey({ u: 'x' }, '/u', 'acme'), { key: Buffer.from('x') });
    assert.deepEqual(partitionKey({ u: 42 }, '/u', 'acme'), { key: Buffer.from('42') });
  });
  it('is a problem naming the field when it is missing or not a scalar', () => {
    assert.deepEqual(partitionKey({}, '/u', 'acme'), {
      problem: { pointer: '/u', message: "is missing: it is the pipeline's partition key" },
    });
    assert.ok('problem' in partitionKey({ u: { v: 1 } }, '/u', 'acme'));
  });
});

describe('the Kafka record of an event', () => {
  it('carries the tenant, pipeline, id, schema version, idempotency key and trace context as headers', () => {
    const record = eventRecord({ value: {}, json: Buffer.from('{}') }, Buffer.from('k'), 'id-1', {
      topic: 'weir.t.p.input',
      tenant: 'acme',
      pipeline: 'tenant-acme/p',
      schemaVersion: 3,
      idempotencyKey: 'retry-me',
      traceparent: '00-aa-bb-01',
      tracestate: 'x=1',
      receivedAt: Date.parse('2030-01-01T00:00:00Z'),
    });
    assert.equal(record.topic, 'weir.t.p.input');
    assert.deepEqual(record.headers, {
      'weir-tenant': 'acme',
      'weir-pipeline': 'tenant-acme/p',
      'weir-event-id': 'id-1',
      'weir-received-at': '2030-01-01T00:00:00.000Z',
      'weir-schema-version': '3',
      'weir-idempotency-key': 'retry-me',
      traceparent: '00-aa-bb-01',
      tracestate: 'x=1',
      'content-type': 'application/json',
    });
  });
});
