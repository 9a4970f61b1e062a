import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { projectMetadata } from './metadata-projection.ts';

describe('projectMetadata', () => {
  it('keeps identity, labels, owners and the named annotations, and drops the spec', () => {
    const project = projectMetadata(['weir.dev/applied-hash']);
    const out = project({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'q', namespace: 'n', uid: 'u', resourceVersion: '7', labels: { a: 'b' }, annotations: { 'weir.dev/applied-hash': 'h', other: 'x' }, ownerReferences: [] },
      spec: { hard: { 'requests.cpu': '2' } },
    } as never);
    assert.deepEqual(out, {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'q', namespace: 'n', uid: 'u', resourceVersion: '7', deletionTimestamp: undefined, labels: { a: 'b' }, annotations: { 'weir.dev/applied-hash': 'h' }, ownerReferences: [] },
    });
  });

  it("keeps a Secret's data, which the controller reads back", () => {
    const out = projectMetadata([])({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { k: 'dg==' } } as never) as { data?: unknown };
    assert.deepEqual(out.data, { k: 'dg==' });
  });
});
