/**
 * Applier's server-side applies against a real kube-apiserver: run under
 * `node hack/local-env/cli.ts run --with kube -- node --test <this file>`. The applies go
 * with field validation off (see KubeRequests.apply); a custom resource of a kind made for
 * this test shows that a field its schema lacks is still refused, in the object and in its
 * status. Built-in kinds are no test of it: client-node's typed serializer drops unknown
 * properties before they are sent.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type V1JSONSchemaProps } from '@kubernetes/client-node';
import { Applier } from './apply.ts';
import { loadKubeConfig } from './kube-config.ts';

const kubeConfig = loadKubeConfig();
const core = kubeConfig.makeApiClient(CoreV1Api);
const apiext = kubeConfig.makeApiClient(ApiextensionsV1Api);
const custom = kubeConfig.makeApiClient(CustomObjectsApi);
const suffix = randomUUID().slice(0, 8);
const group = `it-${suffix}.weir.dev`;
const namespace = `weir-it-apply-${suffix}`;
const applier = new Applier({ kubeConfig, fieldManager: 'weir-it' });

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

describe('Applier applies against kube-apiserver', () => {
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
    // Established, and found by discovery, which is how the Applier finds the kind's path.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await applier.apply(widget('probe', { spec: { size: 0 } }));
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
    await assert.rejects(applier.apply(widget('w', { spec: { size: 1, bogus: true } })), refused('spec.bogus'));
    await applier.apply(widget('w', { spec: { size: 2 } }));
    assert.deepEqual((await read('w')).spec, { size: 2 });
  });

  it('refuses a field the schema lacks in the status, and stores a valid one', async () => {
    await assert.rejects(
      applier.applyStatus({ ...widget('w'), status: { phase: 'Ready', bogus: 1 } }),
      refused('status.bogus'),
    );
    const rv = await applier.applyStatus({ ...widget('w'), status: { phase: 'Ready' } });
    assert.ok(rv);
    assert.deepEqual((await read('w')).status, { phase: 'Ready' });
  });
});
