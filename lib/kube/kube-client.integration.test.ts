/**
 * KubeClient against a real kube-apiserver: run under
 * `node hack/local-env/cli.ts run --with kube -- node --test <this file>`. The applies go
 * with field validation off (see KubeClient.apply); a custom resource of a kind made for
 * this test shows that a field its schema lacks is still refused, in the object and in its
 * status. Built-in kinds are no test of it: client-node's typed serializer drops unknown
 * properties before they are sent.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type V1JSONSchemaProps } from '@kubernetes/client-node';
import { KubeClient, statusCode } from './kube-client.ts';
import { loadKubeConfig } from './kube-config.ts';

const kubeConfig = loadKubeConfig();
const core = kubeConfig.makeApiClient(CoreV1Api);
const apiext = kubeConfig.makeApiClient(ApiextensionsV1Api);
const custom = kubeConfig.makeApiClient(CustomObjectsApi);
const suffix = randomUUID().slice(0, 8);
const group = `it-${suffix}.weir.dev`;
const namespace = `weir-it-apply-${suffix}`;
const client = new KubeClient(kubeConfig, { fieldManager: 'weir-it' });

const widget = (name: string, extra: object = {}) => ({
  apiVersion: `${group}/v1`,
  kind: 'Widget',
  metadata: { name, namespace },
  ...extra,
});
const read = (name: string) =>
  custom.getNamespacedCustomObject({ group, version: 'v1', namespace, plural: 'widgets', name }) as Promise<{
    spec?: unknown;
    status?: unknown;
  }>;
const refused = (field: string) => (err: Error) => {
  assert.match(err.message, new RegExp(`\\.${field}: field not declared in schema`));
  return true;
};

describe('KubeClient against kube-apiserver', () => {
  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const object = (properties: Record<string, V1JSONSchemaProps>): V1JSONSchemaProps => ({
      type: 'object',
      properties,
    });
    await apiext.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: {
                openAPIV3Schema: object({
                  spec: object({ size: { type: 'integer' } }),
                  status: object({ phase: { type: 'string' } }),
                }),
              },
            },
          ],
        },
      },
    });
    // Established, and found by discovery, which is how the client finds the kind's path.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await client.apply(widget('probe', { spec: { size: 0 } }));
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(200);
      }
    }
  });
  after(async () => {
    await apiext.deleteCustomResourceDefinition({ name: `widgets.${group}` }).catch(() => undefined);
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('refuses a field the schema lacks in the object, and stores a valid one', async () => {
    await assert.rejects(client.apply(widget('w', { spec: { size: 1, bogus: true } })), refused('spec.bogus'));
    await client.apply(widget('w', { spec: { size: 2 } }));
    assert.deepEqual((await read('w')).spec, { size: 2 });
  });

  it('refuses a field the schema lacks in the status, and stores a valid one', async () => {
    await assert.rejects(
      client.apply({ ...widget('w'), status: { phase: 'Ready', bogus: 1 } }, { subresource: 'status' }),
      refused('status.bogus'),
    );
    const stored = await client.apply({ ...widget('w'), status: { phase: 'Ready' } }, { subresource: 'status' });
    assert.ok((stored as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion);
    assert.deepEqual((await read('w')).status, { phase: 'Ready' });
  });

  it('lists every page of a collection, giving each item its kind, and filters by label', async () => {
    for (let i = 0; i < 7; i++) {
      await client.apply({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `page-${i}`, namespace, labels: { page: i % 2 === 0 ? 'even' : 'odd' } },
      });
    }
    const path = await client.collectionPath('v1', 'ConfigMap', namespace);
    const all = await client.list(path, { labelSelector: 'page' });
    assert.equal(all.items.length, 7);
    assert.ok(all.items.every((item) => item.kind === 'ConfigMap' && item.apiVersion === 'v1'));
    assert.ok(all.metadata?.resourceVersion);
    const even = await client.list(path, { labelSelector: 'page=even' });
    assert.deepEqual(even.items.map((i) => i.metadata?.name).sort(), ['page-0', 'page-2', 'page-4', 'page-6']);
  });

  it('reads, replaces at a resourceVersion, refuses a stale replace with 409, and deletes', async () => {
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rw', namespace } };
    assert.equal(await client.read(ref), undefined, 'a missing object reads as undefined');
    const created = await client.create({ ...ref, data: { a: '1' } });
    await client.replace({ ...created, data: { a: '2' } });
    assert.equal((await client.read<{ data?: Record<string, string> } & typeof ref>(ref))?.data?.a, '2');
    await assert.rejects(client.replace({ ...created, data: { a: '3' } }), (err) => statusCode(err) === 409);
    assert.equal(await client.delete(ref), true);
    assert.equal(await client.delete(ref), false, 'deleting what is gone is fine');
  });

  it('finds a kind through discovery, and names the kind the API server does not serve', async () => {
    assert.equal(
      await client.pathOf({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace } }),
      `/apis/apps/v1/namespaces/${namespace}/deployments/d`,
    );
    assert.equal(
      await client.pathOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } }),
      '/api/v1/namespaces/n',
    );
    await assert.rejects(
      client.pathOf({ apiVersion: 'v1', kind: 'Gadget', metadata: { name: 'g' } }),
      /does not serve kind Gadget in v1/,
    );
  });
});
