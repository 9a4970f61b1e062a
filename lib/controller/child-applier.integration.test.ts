/**
 * ChildApplier and Applier against a real kube-apiserver: run under
 * `node hack/local-env/cli.ts run --with kube-api -- node --test <this file>`.
 * A child is created, changed to leave a field out, and edited by another field manager;
 * the API server's managedFields and the stored object are checked after each step.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
  type V1ResourceQuota,
} from '@kubernetes/client-node';
import { Applier } from '../kube/apply.ts';
import { ChildApplier, HASH_ANNOTATION } from './child-applier.ts';
import { FakeClock } from '../clock/clock.ts';
import { loadKubeConfig } from '../kube/kube-config.ts';

const kubeConfig = loadKubeConfig();
const core = kubeConfig.makeApiClient(CoreV1Api);
const namespace = `weir-it-child-${randomUUID().slice(0, 8)}`;

function quota(hard: Record<string, string>, labels: Record<string, string> = {}): V1ResourceQuota {
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: 'q', namespace, labels: { 'app.kubernetes.io/managed-by': 'weir', ...labels } },
    spec: { hard },
  };
}

function setUp() {
  const cache = new Map<string, KubernetesObject>();
  const children = {
    get: (kind: string, ns: string, name: string) => cache.get(`${kind}/${ns}/${name}`),
    remember: (obj: KubernetesObject) =>
      void cache.set(`${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`, obj),
  };
  const applier = new Applier({ kubeConfig, fieldManager: 'weir-it' });
  return { cache, writer: new ChildApplier({ applier, children, clock: new FakeClock(), refreshMs: 60_000 }) };
}

const stored = () => core.readNamespacedResourceQuota({ namespace, name: 'q' });
/** The managers of the object itself; the quota controller's status entry is left out. */
const entries = async () =>
  ((await stored()).metadata?.managedFields ?? [])
    .filter((e) => e.subresource !== 'status')
    .map((e) => `${e.manager}/${e.operation}`)
    .sort();

describe('ChildApplier against kube-apiserver', () => {
  before(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
  after(() => core.deleteNamespace({ name: namespace }).catch(() => undefined));

  it('creates a new child, and removes a field it later leaves out while another manager keeps its own', async () => {
    const { writer } = setUp();
    assert.equal(await writer.apply(quota({ cpu: '2', memory: '1Gi' }, { tier: 'gold' })), true);
    assert.deepEqual(await entries(), ['weir-it/Update']);
    assert.ok((await stored()).metadata?.annotations?.[HASH_ANNOTATION]);

    // Another field manager adds a label of its own.
    await core.patchNamespacedResourceQuota(
      {
        namespace,
        name: 'q',
        fieldManager: 'someone',
        body: { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q', namespace, labels: { team: 'a' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );

    // The operator now wants no memory limit and no tier label.
    assert.equal(await writer.apply(quota({ cpu: '4' })), true);
    const after = await stored();
    assert.deepEqual(after.spec?.hard, { cpu: '4' });
    assert.equal(after.metadata?.labels?.tier, undefined);
    assert.equal(after.metadata?.labels?.team, 'a', "the other manager's label stays");
    assert.deepEqual(await entries(), ['someone/Apply', 'weir-it/Apply']);

    // Once handed over, a further change is an ordinary apply.
    assert.equal(await writer.apply(quota({ cpu: '8' })), true);
    assert.deepEqual((await stored()).spec?.hard, { cpu: '8' });
    assert.deepEqual(await entries(), ['someone/Apply', 'weir-it/Apply']);
  });

  it('changes a created Deployment without losing the defaults the API server filled in', async () => {
    const { writer } = setUp();
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const deployment = (level: string): V1Deployment => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace },
      spec: {
        selector: { matchLabels: { app: 'd' } },
        template: {
          metadata: { labels: { app: 'd' } },
          spec: { containers: [{ name: 'c', image: 'weir:test', env: [{ name: 'LEVEL', value: level }] }] },
        },
      },
    });
    await writer.apply(deployment('info'));
    // The Update entry of the create owns the defaulted fields too; handing them over and
    // applying again must leave them defaulted, not remove them.
    await writer.apply(deployment('debug'));
    const stored = await apps.readNamespacedDeployment({ namespace, name: 'd' });
    assert.deepEqual(
      stored.spec?.template.spec?.containers[0]?.env?.map((e) => [e.name, e.value]),
      [['LEVEL', 'debug']],
    );
    assert.equal(stored.spec?.replicas, 1);
    assert.equal(stored.spec?.revisionHistoryLimit, 10);
    assert.equal(stored.spec?.template.spec?.dnsPolicy, 'ClusterFirst');
    assert.equal(stored.spec?.template.spec?.containers[0]?.terminationMessagePath, '/dev/termination-log');
    assert.deepEqual(
      (stored.metadata?.managedFields ?? []).filter((e) => e.manager === 'weir-it').map((e) => e.operation),
      ['Apply'],
    );
  });

  it('applies a child that already exists but is missing from the cache', async () => {
    const { writer } = setUp();
    // The first test's quota exists; this writer's cache is empty.
    assert.equal(await writer.apply(quota({ cpu: '1' })), true);
    assert.deepEqual((await stored()).spec?.hard, { cpu: '1' });
  });
});
