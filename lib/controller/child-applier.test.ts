import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FakeClock } from '../clock/clock.ts';
import {
  APPLIED_AT_ANNOTATION,
  ChildApplier,
  decide,
  HASH_ANNOTATION,
  hashOf,
  withAppliedHash,
} from './child-applier.ts';

const quota = (cpu: string): KubernetesObject =>
  ({
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: 'weir-quota', namespace: 'tenant-a' },
    spec: { hard: { cpu } },
  }) as KubernetesObject;

const MINUTE = 60_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');

describe('decide', () => {
  const cases: [string, KubernetesObject | undefined, number, string][] = [
    ['applies a child the cache does not have', undefined, T0, 'missing'],
    ['applies a child whose desired state changed', withAppliedHash(quota('4'), T0), T0, 'changed'],
    [
      'skips a child applied unchanged within the re-sync period',
      withAppliedHash(quota('8'), T0),
      T0 + MINUTE - 1,
      'unchanged',
    ],
    [
      'applies an unchanged child again once the re-sync period has passed, to repair edits',
      withAppliedHash(quota('8'), T0),
      T0 + MINUTE,
      'stale',
    ],
    [
      'applies a child whose applied-at annotation was removed',
      {
        ...withAppliedHash(quota('8'), T0),
        metadata: { ...quota('8').metadata, annotations: { [HASH_ANNOTATION]: hashOf(quota('8')) } },
      },
      T0,
      'stale',
    ],
    [
      'trusts a child another replica applied with its clock ahead, until that time has come and gone',
      withAppliedHash(quota('8'), T0 + 5_000),
      T0,
      'unchanged',
    ],
  ];
  for (const [name, cached, now, expected] of cases) {
    it(name, () => assert.equal(decide(quota('8'), cached, now, MINUTE), expected));
  }
});

describe('ChildApplier', () => {
  function setUp(cached?: KubernetesObject) {
    const applied: KubernetesObject[] = [];
    const clock = new FakeClock({ now: T0 });
    const writer = new ChildApplier({
      client: { apply: async <T extends KubernetesObject>(obj: T) => (applied.push(obj), obj) },
      children: { get: () => cached },
      clock,
      refreshMs: MINUTE,
    });
    return { applied, writer };
  }

  it('applies with the hash of what it applied and when', async () => {
    const { applied, writer } = setUp();
    assert.equal(await writer.apply(quota('4')), 'missing');
    const annotations = applied[0]!.metadata!.annotations!;
    assert.equal(annotations[HASH_ANNOTATION], hashOf(quota('4')));
    assert.equal(annotations[APPLIED_AT_ANNOTATION], '2030-01-01T00:00:00Z');
  });

  it('writes nothing for a child the cache shows as it wants it', async () => {
    const { applied, writer } = setUp(withAppliedHash(quota('4'), T0 - 1_000));
    assert.equal(await writer.apply(quota('4')), 'unchanged');
    assert.deepEqual(applied, []);
  });
});
