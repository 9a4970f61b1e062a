/**
 * The informer against a real kube-apiserver: run under
 * `node hack/local-env/cli.ts run --with kube-api -- node --test <this file>`.
 * Each test watches the ConfigMaps of `default` that carry its own label. Timings are
 * bounded generously: the machine may be busy with other tests.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { hasLocalEnv, startComponent, stopComponent } from '../../hack/local-env/control-client.ts';
import { Informer, keyOf, type InformerOptions } from './informer.ts';
import { KubeClient } from './kube-client.ts';

const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const core = kubeConfig.makeApiClient(CoreV1Api);
const client = new KubeClient(kubeConfig, { fieldManager: 'weir-it' });
const namespace = 'default';

interface Watched {
  informer: Informer<V1ConfigMap>;
  /** `add a`, `update a`, `delete a`, in the order the handlers saw them. */
  events: string[];
  /** Creates a ConfigMap that the informer selects. */
  create(name: string, data?: Record<string, string>): Promise<V1ConfigMap>;
}

/** An informer on ConfigMaps labelled for this test alone; it is stopped and they are deleted when the test ends. */
function watched(t: TestContext, options: Partial<InformerOptions<V1ConfigMap>> = {}): Watched {
  const test = randomUUID().slice(0, 8);
  const labelSelector = `weir.dev/informer-test=${test}`;
  const informer = new Informer<V1ConfigMap>({
    client,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    labelSelector,
    ...options,
  });
  const events: string[] = [];
  for (const event of ['add', 'update', 'delete'] as const)
    informer.on(event, (obj) => events.push(`${event} ${obj.metadata?.name}`));
  t.after(async () => {
    await informer.stop();
    await core.deleteCollectionNamespacedConfigMap({ namespace, labelSelector });
  });
  const create = (name: string, data: Record<string, string> = { v: '1' }) =>
    core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: `${test}-${name}`, labels: { 'weir.dev/informer-test': test } }, data },
    });
  return { informer, events, create };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs}ms`);
    await sleep(100);
  }
}

/** Whether the cache holds exactly what a fresh list returns, at the same resourceVersions. */
async function matchesServer(informer: Informer<V1ConfigMap>, labelSelector: string): Promise<boolean> {
  const fresh = await core.listNamespacedConfigMap({ namespace, labelSelector });
  const versions = (objs: V1ConfigMap[]) => objs.map((o) => `${keyOf(o)}@${o.metadata?.resourceVersion}`).sort();
  return JSON.stringify(versions(fresh.items)) === JSON.stringify(versions(informer.list()));
}

const selectorOf = (cm: V1ConfigMap) => `weir.dev/informer-test=${cm.metadata?.labels?.['weir.dev/informer-test']}`;
const named = (cm: V1ConfigMap) => cm.metadata!.name!;

// Without its real server this test fails rather than skips: a skip would read as a pass.
assert.ok(hasLocalEnv(), 'needs hack/local-env/cli.ts run');

describe('Informer against a real API server', () => {
  it('syncs existing objects, then sees adds, updates and deletes, without managedFields', async (t) => {
    const { informer, events, create } = watched(t);
    const a = await create('a');
    const b = await create('b');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: `${named(a)}-unlabelled` } } });
    t.after(() => core.deleteNamespacedConfigMap({ namespace, name: `${named(a)}-unlabelled` }));
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(30_000));
    assert.ok(informer.hasSynced);
    assert.deepEqual(informer.list().map(named).sort(), [named(a), named(b)]);
    assert.ok(a.metadata?.managedFields?.length, 'the server does send managedFields');
    assert.equal(informer.get(keyOf(a))?.metadata?.managedFields, undefined);

    const c = await create('c');
    await core.replaceNamespacedConfigMap({ namespace, name: named(a), body: { ...a, data: { v: '2' } } });
    await core.deleteNamespacedConfigMap({ namespace, name: named(b) });
    const expected = [`add ${named(c)}`, `update ${named(a)}`, `delete ${named(b)}`];
    await waitFor('the watch events', () => expected.every((e) => events.includes(e)));
    assert.deepEqual(events, [`add ${named(a)}`, `add ${named(b)}`, ...expected]);
    assert.equal(informer.get(keyOf(a))?.data?.v, '2');
    const fromWatch = informer.get(keyOf(c))!;
    assert.equal(fromWatch.metadata?.managedFields, undefined);
    // List and watch give the same shape: the API's JSON, timestamps as RFC 3339 strings.
    assert.equal(typeof fromWatch.metadata?.creationTimestamp, 'string');
    assert.equal(typeof informer.get(keyOf(a))?.metadata?.creationTimestamp, 'string');
    assert.equal(fromWatch.kind, 'ConfigMap', 'objects from the watch carry their kind, as list items are given it');
    assert.ok(await matchesServer(informer, selectorOf(a)));
    assert.deepEqual(informer.stats, { lists: 1, watchRestarts: 0, silentWatches: 0 });
  });

  it('restarts a watch that stays silent, and keeps working', async (t) => {
    const { informer, events, create } = watched(t, { bookmarks: false, silenceTimeoutMs: 1_000 });
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(30_000));
    await waitFor('two silent watches restarted', () => informer.stats.silentWatches >= 2);
    assert.equal(informer.stats.lists, 1, 'a silent watch resumes where it was, without re-listing');
    const a = await create('a');
    await waitFor('the add after the restarts', () => events.includes(`add ${named(a)}`));
  });

  it('hands every cached object to resync handlers each period, and stops doing so on stop()', async (t) => {
    const { informer, create } = watched(t, { resyncPeriodMs: 500 });
    const names = [named(await create('a')), named(await create('b')), named(await create('c'))];
    const counts = new Map<string, number>();
    informer.onResync((obj) => counts.set(named(obj), (counts.get(named(obj)) ?? 0) + 1));
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(30_000));
    await waitFor('two resyncs of every object', () => names.every((n) => (counts.get(n) ?? 0) >= 2));
    assert.deepEqual([...counts.keys()].sort(), names.sort());
    await informer.stop();
    const after = JSON.stringify([...counts]);
    await sleep(1_500);
    assert.equal(JSON.stringify([...counts]), after);
  });

  // Last: it takes the API server away from everything else.
  it('recovers after the API server restarts, including a deletion made before it watched again', async (t) => {
    const { informer, events, create } = watched(t);
    const [x, y] = [await create('x'), await create('y')];
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(30_000));

    await stopComponent('kube-apiserver');
    // A few failed reconnects grow the backoff, so the writes below most likely land before the informer is back.
    await waitFor('failed reconnects', () => informer.stats.watchRestarts >= 3, 60_000);
    await startComponent('kube-apiserver');
    await core.deleteNamespacedConfigMap({ namespace, name: named(x) });
    await core.replaceNamespacedConfigMap({ namespace, name: named(y), body: { ...y, data: { v: '2' } } });
    const z = await create('z');
    t.diagnostic(`events seen by then: ${events.length - 2}; lists so far: ${informer.stats.lists}`);

    const expected = [`delete ${named(x)}`, `update ${named(y)}`, `add ${named(z)}`];
    await waitFor('the changes made around the restart', () => expected.every((e) => events.includes(e)), 120_000);
    await waitFor('the cache to match a fresh list', () => matchesServer(informer, selectorOf(x)));
    assert.equal(informer.get(keyOf(y))?.data?.v, '2');
    // The restarted server's watch cache usually begins past the informer's resourceVersion, so
    // recovery goes through 410 Gone and a re-list (lists: 2). Not asserted: that depends on
    // what the server writes while it starts; the delete event above is what a user relies on.
    t.diagnostic(`stats: ${JSON.stringify(informer.stats)}`);
  });
});
