/**
 * The finalizer helpers against a real kube-apiserver: run under
 * `node hack/local-env/cli.ts run --with kube -- node --test <this file>`. A ConfigMap
 * stands in for a Weir object: finalizers behave the same on every kind.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import { addFinalizer, removeFinalizer } from './finalizers.ts';
import { KubeClient } from './kube-client.ts';
import { loadKubeConfig } from './kube-config.ts';

const kubeConfig = loadKubeConfig();
const core = kubeConfig.makeApiClient(CoreV1Api);
const namespace = `weir-it-fin-${randomUUID().slice(0, 8)}`;
const client = new KubeClient(kubeConfig, { fieldManager: 'weir-it' });
const MINE = 'weir.dev/it-backends';

const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } });
const read = (name: string) => core.readNamespacedConfigMap({ namespace, name });
const create = (name: string, finalizers: string[]) =>
  core.createNamespacedConfigMap({ namespace, body: { metadata: { name, finalizers } } });
/** Writes the finalizer list as another client would, with a JSON patch. */
const setFinalizers = (name: string, finalizers: string[]) =>
  core.patchNamespacedConfigMap(
    {
      namespace,
      name,
      fieldManager: 'someone',
      body: [{ op: 'replace', path: '/metadata/finalizers', value: finalizers }],
    },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
const managers = async (name: string) =>
  ((await read(name)).metadata?.managedFields ?? []).map((e) => `${e.manager}/${e.operation}`).sort();

describe('finalizers against kube-apiserver', () => {
  const made: string[] = [];
  before(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
  after(async () => {
    for (const name of made) await setFinalizers(name, []).catch(() => undefined);
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('removes its finalizer when another writer added it, and keeps the others', async () => {
    made.push('by-creator');
    // As a restored manifest leaves it: in the object, owned by a field manager other than the operator's.
    const stored = await create('by-creator', ['example.com/other', MINE]);
    await removeFinalizer(client, { ...ref('by-creator'), metadata: stored.metadata! }, MINE);
    assert.deepEqual((await read('by-creator')).metadata?.finalizers, ['example.com/other']);
  });

  it('reads the list again when another writer moved the entry since the object was read', async () => {
    made.push('moved');
    const stale = await create('moved', [MINE]);
    await setFinalizers('moved', ['example.com/first', MINE, 'example.com/last']);
    await removeFinalizer(client, { ...ref('moved'), metadata: stale.metadata! }, MINE);
    assert.deepEqual((await read('moved')).metadata?.finalizers, ['example.com/first', 'example.com/last']);
  });

  it('removes every copy of its finalizer, and leaves a new object of the same name alone', async () => {
    made.push('twice');
    const twice = await create('twice', [MINE, 'example.com/other', MINE]);
    await removeFinalizer(client, { ...ref('twice'), metadata: twice.metadata! }, MINE);
    assert.deepEqual((await read('twice')).metadata?.finalizers, ['example.com/other']);

    // A reconcile that still holds the object deleted before: the one now of that name is another.
    made.push('again');
    const old = await create('again', [MINE]);
    await setFinalizers('again', []);
    await core.deleteNamespacedConfigMap({ namespace, name: 'again' });
    await create('again', [MINE]);
    await removeFinalizer(client, { ...ref('again'), metadata: old.metadata! }, MINE);
    assert.deepEqual((await read('again')).metadata?.finalizers, [MINE]);
  });

  it('adds its finalizer as an apply entry of its own, leaving the other finalizers to their owners', async () => {
    made.push('applied');
    await create('applied', ['example.com/other']);
    await addFinalizer(client, ref('applied'), MINE);
    assert.deepEqual((await read('applied')).metadata?.finalizers, ['example.com/other', MINE]);
    assert.ok((await managers('applied')).includes('weir-it-finalizer/Apply'));
    // Another manager applies the object without finalizers: the operator's stays.
    await core.patchNamespacedConfigMap(
      {
        namespace,
        name: 'applied',
        fieldManager: 'someone',
        body: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'applied', namespace },
          data: { a: '1' },
        } as V1ConfigMap,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    const current = await read('applied');
    assert.deepEqual(current.metadata?.finalizers, ['example.com/other', MINE]);
    await removeFinalizer(client, { ...ref('applied'), metadata: current.metadata! }, MINE);
    assert.deepEqual((await read('applied')).metadata?.finalizers, ['example.com/other']);
  });

  it('lets a deleted object go once its finalizer is removed; an object without it or already gone is done', async () => {
    const stored = await create('deleted', [MINE]);
    await core.deleteNamespacedConfigMap({ namespace, name: 'deleted' });
    assert.ok((await read('deleted')).metadata?.deletionTimestamp, 'held by the finalizer');
    await removeFinalizer(client, { ...ref('deleted'), metadata: stored.metadata! }, MINE);
    await assert.rejects(read('deleted'), (err: { code?: number }) => err.code === 404);
    // Gone: the stale copy still lists the finalizer, and the patch finds nothing.
    await removeFinalizer(client, { ...ref('deleted'), metadata: stored.metadata! }, MINE);
    made.push('without');
    const without = await create('without', ['example.com/other']);
    await removeFinalizer(client, { ...ref('without'), metadata: without.metadata! }, MINE);
    assert.deepEqual((await read('without')).metadata?.finalizers, ['example.com/other']);
  });
});
