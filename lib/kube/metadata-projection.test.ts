import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { projectMetadata } from './metadata-projection.ts';

describe('projectMetadata', () => {
  it('keeps identity, labels, owners, the named annotations and whether a quota was counted, and drops the rest', () => {
    const project = projectMetadata(['weir.dev/applied-hash']);
    const out = project({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: {
        name: 'q',
        namespace: 'n',
        uid: 'u',
        resourceVersion: '7',
        labels: { a: 'b' },
        annotations: { 'weir.dev/applied-hash': 'h', other: 'x' },
        ownerReferences: [],
      },
      spec: { hard: { 'requests.cpu': '2' } },
      status: { hard: { 'requests.cpu': '2' }, used: { 'requests.cpu': '0' } },
    } as never);
    assert.deepEqual(out, {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: {
        name: 'q',
        namespace: 'n',
        uid: 'u',
        resourceVersion: '7',
        deletionTimestamp: undefined,
        labels: { a: 'b' },
        annotations: { 'weir.dev/applied-hash': 'h' },
        ownerReferences: [],
      },
      status: { hard: { 'requests.cpu': '2' } },
    });
  });

  it("keeps a Secret's data, which the controller reads back", () => {
    const out = projectMetadata([])({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { k: 'dg==' },
    } as never) as { data?: unknown };
    assert.deepEqual(out.data, { k: 'dg==' });
  });
});
