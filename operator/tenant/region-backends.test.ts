import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backendsFingerprint } from './region-backends.ts';
import { region } from './testing/tenant-fixture.ts';

describe('backendsFingerprint', () => {
  it('stays the same when only the Region’s status and resourceVersion change', () => {
    const before = region('local');
    const probed = {
      ...structuredClone(before),
      metadata: { ...before.metadata, resourceVersion: '999' },
      status: { phase: 'Ready' },
    };
    assert.equal(backendsFingerprint(probed, 'r1', 'p1'), backendsFingerprint(before, 'r1', 'p1'));
  });

  it('changes with the Redis or Postgres spec and with either credentials Secret', () => {
    const base = region('local');
    const fp = backendsFingerprint(base, 'r1', 'p1');
    const moved = structuredClone(base);
    moved.spec.postgres.primary = 'elsewhere:5432';
    const redisMoved = structuredClone(base);
    redisMoved.spec.redis.endpoints = ['other:6379'];
    assert.notEqual(backendsFingerprint(moved, 'r1', 'p1'), fp);
    assert.notEqual(backendsFingerprint(redisMoved, 'r1', 'p1'), fp);
    assert.notEqual(backendsFingerprint(base, 'r2', 'p1'), fp);
    assert.notEqual(backendsFingerprint(base, 'r1', 'p2'), fp);
  });
});
