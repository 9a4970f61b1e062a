import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { WrittenObjects } from './written-objects.ts';

type Thing = KubernetesObject & { status?: { phase: string } };
const thing = (resourceVersion: string, status?: { phase: string }, finalizers?: string[]): Thing => ({
  metadata: { name: 'a', uid: 'u1', resourceVersion, finalizers },
  status,
});

describe('WrittenObjects', () => {
  it('gives the status and finalizer written since, while the cache shows an older version', () => {
    const written = new WrittenObjects<Thing, { phase: string }>('weir.dev/x');
    written.note(thing('10'), '11', { finalizer: true });
    written.note(thing('11'), '12', { status: { phase: 'Ready' } });
    const fresh = written.freshest(thing('10', { phase: 'Pending' }));
    assert.deepEqual(fresh.status, { phase: 'Ready' });
    assert.deepEqual(fresh.metadata?.finalizers, ['weir.dev/x']);
  });

  it('gives the cached object once the cache has caught up or moved past the write', () => {
    const written = new WrittenObjects<Thing, { phase: string }>('weir.dev/x');
    written.note(thing('10'), '12', { status: { phase: 'Ready' } });
    const caughtUp = thing('12', { phase: 'Ready' });
    assert.equal(written.freshest(caughtUp), caughtUp);
    const changedSince = thing('13', { phase: 'Degraded' });
    assert.equal(written.freshest(changedSince), changedSince);
  });

  it('forgets an object that is gone', () => {
    const written = new WrittenObjects<Thing, { phase: string }>('weir.dev/x');
    written.note(thing('10'), '12', { status: { phase: 'Ready' } });
    written.forget(thing('12'));
    const cached = thing('10', { phase: 'Pending' });
    assert.equal(written.freshest(cached), cached);
  });
});
