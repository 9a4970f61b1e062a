/**
 * ChildApplier against a real kube-apiserver: run under
 * `node hack/local-env/cli.ts run --with kube-api -- node --test <this file>`.
 * A child is applied, changed to leave a field out, and edited by another field manager;
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
import { FakeClock } from '../clock/clock.ts';
import { KubeClient } from '../kube/kube-client.ts';
import { loadKubeConfig } from '../kube/kube-config.ts';
import { ChildApplier, HASH_ANNOTATION } from './child-applier.ts';

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

/** A ChildApplier whose cache holds what `cache` is given, as an informer would after its watch event. */
function setUp() {
  const cache = new Map<string, KubernetesObject>();
  const children = { get: (kind: string, ns: string, name: string) => cache.get(`${kind}/${ns}/${name}`) };
  const client = new KubeClient(kubeConfig, { fieldManager: 'weir-it' });
  const clock = new FakeClock({ now: Date.now() });
  const writer = new ChildApplier({ client, children, clock, refreshMs: 60_000 });
  const cacheStored = async () =>
    cache.set(`ResourceQuota/${namespace}/q`, { kind: 'ResourceQuota', ...(await stored()) });
  return { clock, writer, cacheStored };
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

  it('applies a new child, and removes a field it later leaves out while another manager keeps its own', async () => {
    const { writer } = setUp();
    assert.equal(await writer.apply(quota({ cpu: '2', memory: '1Gi' }, { tier: 'gold' })), 'missing');
    assert.deepEqual(await entries(), ['weir-it/Apply']);
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
    assert.equal(await writer.apply(quota({ cpu: '4' })), 'missing');
    const after = await stored();
    assert.deepEqual(after.spec?.hard, { cpu: '4' });
    assert.equal(after.metadata?.labels?.tier, undefined);
    assert.equal(after.metadata?.labels?.team, 'a', "the other manager's label stays");
    assert.deepEqual(await entries(), ['someone/Apply', 'weir-it/Apply']);
  });

  it('skips a child the cache shows unchanged, and repairs an edit made behind its back once the re-sync period passed', async () => {
    const { clock, writer, cacheStored } = setUp();
    assert.equal(await writer.apply(quota({ cpu: '3' })), 'missing');
    await cacheStored();
    assert.equal(await writer.apply(quota({ cpu: '3' })), 'unchanged');

    // Someone takes the field over by force; the hash annotation stays as it was.
    await core.patchNamespacedResourceQuota(
      {
        namespace,
        name: 'q',
        fieldManager: 'intruder',
        force: true,
        body: {
          apiVersion: 'v1',
          kind: 'ResourceQuota',
          metadata: { name: 'q', namespace },
          spec: { hard: { cpu: '99' } },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    await cacheStored();
    assert.equal(await writer.apply(quota({ cpu: '3' })), 'unchanged', 'within the period the edit is not seen');
    await clock.advance(60_000);
    assert.equal(await writer.apply(quota({ cpu: '3' })), 'stale');
    assert.deepEqual((await stored()).spec?.hard, { cpu: '3' });
  });

  it('changes a Deployment without losing the defaults the API server filled in', async () => {
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
    assert.equal(await writer.apply(quota({ cpu: '1' })), 'missing');
    assert.deepEqual((await stored()).spec?.hard, { cpu: '1' });
  });
});
