import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Applier } from './apply.ts';
import { ChildApplier, HASH_ANNOTATION } from './child-applier.ts';
import { FakeClock } from './clock.ts';

function setUp() {
  const cache = new Map<string, KubernetesObject>();
  const applied: KubernetesObject[] = [];
  const clock = new FakeClock();
  const applier = { apply: async (obj: KubernetesObject) => (applied.push(obj), obj) } as unknown as Applier;
  const children = {
    get: (kind: string, namespace: string, name: string) => cache.get(`${kind}/${namespace}/${name}`),
    remember: (obj: KubernetesObject) => cache.set(`${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`, obj),
  };
  return { cache, applied, clock, writer: new ChildApplier({ applier, children, clock, refreshMs: 60_000 }) };
}

const quota = (cpu: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'weir-quota', namespace: 'tenant-a' }, spec: { hard: { cpu } } } as KubernetesObject);

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
    assert.equal(applied.length, 2);
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
