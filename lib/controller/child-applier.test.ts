import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Applier } from '../kube/apply.ts';
import { ChildApplier, HASH_ANNOTATION } from './child-applier.ts';
import { FakeClock } from '../clock/clock.ts';

function setUp(options: { exists?: boolean; createdByUpdate?: boolean } = {}) {
  const cache = new Map<string, KubernetesObject>();
  /** Every write, in order: creates and applies alike. */
  const applied: KubernetesObject[] = [];
  const calls: string[] = [];
  const clock = new FakeClock();
  let updateEntry = options.createdByUpdate ?? false;
  const stored = (obj: KubernetesObject) => ({
    ...obj,
    metadata: {
      ...obj.metadata,
      managedFields: [
        { manager: 'weir', operation: 'Apply' },
        ...(updateEntry ? [{ manager: 'weir', operation: 'Update' }] : []),
      ],
    },
  });
  const applier = {
    create: async (obj: KubernetesObject) => {
      calls.push('create');
      if (options.exists) throw Object.assign(new Error('AlreadyExists'), { code: 409 });
      applied.push(obj);
      updateEntry = true;
      return stored(obj);
    },
    apply: async (obj: KubernetesObject) => (calls.push('apply'), applied.push(obj), stored(obj)),
    releaseUpdateFields: async (obj: KubernetesObject) => {
      const had = obj.metadata?.managedFields?.some((e) => e.operation === 'Update') ?? false;
      if (had) calls.push('release');
      updateEntry = false;
      return had;
    },
  } as unknown as Applier;
  const children = {
    get: (kind: string, namespace: string, name: string) => cache.get(`${kind}/${namespace}/${name}`),
    remember: (obj: KubernetesObject) =>
      cache.set(`${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`, obj),
  };
  return { cache, applied, calls, clock, writer: new ChildApplier({ applier, children, clock, refreshMs: 60_000 }) };
}

const quota = (cpu: string): KubernetesObject =>
  ({
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: 'weir-quota', namespace: 'tenant-a' },
    spec: { hard: { cpu } },
  }) as KubernetesObject;

describe('ChildApplier', () => {
  it('applies a child the cache does not have, with the hash of what it applied', async () => {
    const { applied, writer } = setUp();
    assert.equal(await writer.apply(quota('4')), true);
    assert.ok(applied[0]?.metadata?.annotations?.[HASH_ANNOTATION]);
  });

  it('does not apply an unchanged child again within the refresh period', async () => {
    const { applied, writer, clock } = setUp();
    await writer.apply(quota('4'));
    await clock.advance(59_000);
    assert.equal(await writer.apply(quota('4')), false);
    assert.equal(applied.length, 1);
  });

  it('applies a changed child at once', async () => {
    const { applied, writer } = setUp();
    await writer.apply(quota('4'));
    assert.equal(await writer.apply(quota('8')), true);
    assert.equal((applied.at(-1) as { spec: { hard: { cpu: string } } }).spec.hard.cpu, '8');
  });

  it('applies an unchanged child again after the refresh period, which repairs edits that kept the annotation', async () => {
    const { applied, writer, clock } = setUp();
    await writer.apply(quota('4'));
    await clock.advance(60_000);
    assert.equal(await writer.apply(quota('4')), true);
    assert.equal(applied.length, 2);
  });

  it('applies a child deleted behind its back at once', async () => {
    const { applied, writer, cache } = setUp();
    await writer.apply(quota('4'));
    cache.clear();
    assert.equal(await writer.apply(quota('4')), true);
    assert.equal(applied.length, 2);
  });

  it('creates a child the cache does not have rather than applying it', async () => {
    const { calls, writer } = setUp();
    await writer.apply(quota('4'));
    assert.deepEqual(calls, ['create']);
  });

  it('applies a child that exists although the cache does not show it', async () => {
    const { calls, applied, writer } = setUp({ exists: true });
    assert.equal(await writer.apply(quota('4')), true);
    assert.deepEqual(calls, ['create', 'apply']);
    assert.equal(applied.length, 1);
  });

  it('hands the fields of a created child over to its apply entry when the child changes, and applies again', async () => {
    const { calls, applied, writer } = setUp();
    await writer.apply(quota('4'));
    await writer.apply(quota('8'));
    assert.deepEqual(calls, ['create', 'apply', 'release', 'apply']);
    assert.equal((applied.at(-1) as { spec: { hard: { cpu: string } } }).spec.hard.cpu, '8');
    // Once handed over, a change is one apply.
    await writer.apply(quota('16'));
    assert.deepEqual(calls.slice(4), ['apply']);
  });

  it('keeps the Update entry when a re-sync applies an unchanged child', async () => {
    const { calls, writer, clock } = setUp();
    await writer.apply(quota('4'));
    await clock.advance(60_000);
    await writer.apply(quota('4'));
    assert.deepEqual(calls, ['create', 'apply']);
  });

  it('trusts children found in order after a restart for one period instead of applying them all at once', async () => {
    const first = setUp();
    await first.writer.apply(quota('4'));
    const restarted = setUp();
    restarted.cache.set('ResourceQuota/tenant-a/weir-quota', first.applied[0]!);
    assert.equal(await restarted.writer.apply(quota('4')), false);
    await restarted.clock.advance(60_000);
    assert.equal(await restarted.writer.apply(quota('4')), true);
  });
});
