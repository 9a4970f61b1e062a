import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { FakeClock } from '../clock/clock.ts';
import { Informer, keyOf, type InformerClient, type InformerOptions } from './informer.ts';
import type { ObjectList } from './kube-client.ts';

type Callback = (type: string, obj: unknown, event?: unknown) => void;
type Done = Parameters<InformerClient['watch']>[3];
interface WatchCall {
  query: Record<string, unknown>;
  send: Callback;
  done: Done;
  controller: AbortController;
}

/** Records each watch the informer opens; the test plays the server's part on it. */
class FakeWatch {
  calls: WatchCall[] = [];
  watch(_path: string, query: Record<string, unknown>, send: Callback, done: Done): Promise<AbortController> {
    const controller = new AbortController();
    this.calls.push({ query, send, done, controller });
    return Promise.resolve(controller);
  }
  get last(): WatchCall {
    return this.calls.at(-1)!;
  }
}

const configMap = (name: string, resourceVersion: string): V1ConfigMap => ({
  metadata: { name, namespace: 'ns', resourceVersion, managedFields: [{ manager: 'kubectl', operation: 'Update' }] },
  data: { v: resourceVersion },
});
const configMapList = (resourceVersion: string, ...items: V1ConfigMap[]): ObjectList<V1ConfigMap> => ({
  apiVersion: 'v1',
  kind: 'ConfigMapList',
  metadata: { resourceVersion },
  items,
});
/** What the API server sends when a watch asks for a resourceVersion its watch cache no longer holds. */
const tooOld = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'too old resource version: 10 (15)',
  reason: 'Expired',
  code: 410,
};

function setUp(lists: (ObjectList<V1ConfigMap> | Error)[], options: Partial<InformerOptions<V1ConfigMap>> = {}) {
  const clock = new FakeClock();
  const watch = new FakeWatch();
  const listCalls: number[] = [];
  const informer = new Informer<V1ConfigMap>({
    path: '/api/v1/namespaces/ns/configmaps',
    client: {
      list: (() => {
        listCalls.push(clock.now());
        const next = lists.shift();
        if (!next) return new Promise(() => {});
        return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
      }) as InformerClient['list'],
      watch: (path, query, send, done) => watch.watch(path, query, send, done),
    },
    clock,
    ...options,
  });
  const events: string[] = [];
  informer.on('add', (obj) => events.push(`add ${keyOf(obj)}@${obj.metadata?.resourceVersion}`));
  informer.on('update', (obj, old) =>
    events.push(`update ${keyOf(obj)}@${old?.metadata?.resourceVersion}->${obj.metadata?.resourceVersion}`),
  );
  informer.on('delete', (obj) => events.push(`delete ${keyOf(obj)}@${obj.metadata?.resourceVersion}`));
  return { clock, watch, informer, events, listCalls };
}

describe('Informer', () => {
  it('re-lists after 410 Gone and reports what changed, appeared and vanished meanwhile', async (t) => {
    const { clock, watch, informer, events } = setUp([
      configMapList('10', configMap('a', '1'), configMap('b', '2'), configMap('c', '3')),
      configMapList('20', configMap('a', '11'), configMap('c', '3'), configMap('d', '12')),
    ]);
    t.after(() => informer.stop());
    informer.start();
    await informer.waitForSync();
    await clock.advance(0);
    assert.deepEqual(events.splice(0), ['add ns/a@1', 'add ns/b@2', 'add ns/c@3']);
    assert.equal(informer.get('ns/a')?.metadata?.managedFields, undefined);
    assert.equal(informer.get('ns/a')?.kind, 'ConfigMap');
    assert.deepEqual(
      [watch.calls.length, watch.last.query.resourceVersion, watch.last.query.allowWatchBookmarks],
      [1, '10', true],
    );

    watch.last.send('ERROR', tooOld);
    assert.ok(watch.last.controller.signal.aborted, 'the expired watch is closed');
    await clock.advance(1_000);

    assert.deepEqual(events, ['update ns/a@1->11', 'add ns/d@12', 'delete ns/b@2']);
    assert.deepEqual(informer.list().map(keyOf).sort(), ['ns/a', 'ns/c', 'ns/d']);
    assert.deepEqual([watch.calls.length, watch.last.query.resourceVersion], [2, '20']);
    assert.deepEqual(informer.stats, { lists: 2, watchRestarts: 1, silentWatches: 0 });
  });

  it('restarts a silent watch from the last resourceVersion, bookmarks included, without re-listing', async (t) => {
    const { clock, watch, informer } = setUp([configMapList('10', configMap('a', '1'))], { silenceTimeoutMs: 1_000 });
    t.after(() => informer.stop());
    informer.start();
    await informer.waitForSync();
    await clock.advance(500);
    watch.last.send('BOOKMARK', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '15' } });
    await clock.advance(900);
    assert.deepEqual(
      [watch.calls.length, watch.last.controller.signal.aborted],
      [1, false],
      'a bookmark counts as a sign of life',
    );

    await clock.advance(200);
    assert.ok(watch.calls[0]!.controller.signal.aborted);
    await clock.advance(600);
    assert.deepEqual([watch.calls.length, watch.last.query.resourceVersion], [2, '15']);
    assert.deepEqual(informer.stats, { lists: 1, watchRestarts: 1, silentWatches: 1 });
  });

  it('retries failures with doubling delays up to the cap, and starts over after a healthy watch', async (t) => {
    const { clock, watch, informer, listCalls } = setUp([new Error('connection refused'), configMapList('10')], {
      backoff: { initialMs: 1_000, maxMs: 8_000, resetAfterMs: 60_000 },
    });
    t.after(() => informer.stop());
    informer.start();
    await clock.advance(1_000);
    assert.equal(listCalls.length, 2, 'a failed list is retried');
    await informer.waitForSync();

    const startedAt: number[] = [clock.now()];
    for (let i = 0; i < 5; i++) {
      watch.last.done(new Error('socket hang up'));
      const before = watch.calls.length;
      while (watch.calls.length === before) await clock.advance(100);
      startedAt.push(clock.now());
    }
    const delays = startedAt.slice(1).map((at, i) => at - startedAt[i]!);
    // Each delay is jittered into [d/2, d] for d = 2s, 4s, 8s, 8s, 8s (the list failure used 1s).
    for (const [i, d] of [2_000, 4_000, 8_000, 8_000, 8_000].entries()) {
      assert.ok(
        delays[i]! >= d / 2 && delays[i]! <= d + 100,
        `delay ${i} was ${delays[i]}ms, expected ${d / 2}-${d}ms`,
      );
    }

    await clock.advance(60_000);
    watch.last.done(null);
    const endedAt = clock.now();
    while (watch.calls.length === 6) await clock.advance(100);
    assert.ok(clock.now() - endedAt <= 1_000, 'the backoff starts over');
    assert.equal(informer.stats.lists, 1, 'watch failures alone never force a re-list');
  });

  it('hands every cached object to resync handlers once per period', async (t) => {
    const { clock, watch, informer } = setUp([configMapList('10', configMap('a', '1'), configMap('b', '2'))], {
      resyncPeriodMs: 1_000,
    });
    t.after(() => informer.stop());
    const resynced: string[] = [];
    informer.onResync((obj) => resynced.push(keyOf(obj)));
    informer.start();
    await informer.waitForSync();
    await clock.advance(0);
    watch.last.send('ADDED', { ...configMap('c', '11'), kind: 'ConfigMap', apiVersion: 'v1' });
    await clock.advance(999);
    assert.deepEqual(resynced, []);
    await clock.advance(1_001);
    assert.deepEqual(resynced.sort(), ['ns/a', 'ns/a', 'ns/b', 'ns/b', 'ns/c', 'ns/c']);
    await informer.stop();
    assert.equal(clock.pendingTimers, 0, 'stop clears every timer');
  });
});
