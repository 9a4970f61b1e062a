import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HASH_ANNOTATION } from '../../lib/controller/child-applier.ts';
import { TENANT_FINALIZER } from '../../lib/platform/tenant-names.ts';
import { decode, type SecretData } from './credentials.ts';
import { region, T0, tenantFixture } from './testing/tenant-fixture.ts';
import { QUOTA_GRACE_MS } from './tenant-status.ts';

/** The kinds of the objects written, in order, without status writes. */
const kindsWritten = (f: ReturnType<typeof tenantFixture>) =>
  f.kube.writes.filter((w) => w.verb === 'apply' && !w.subresource).map((w) => w.kind);

describe('the Tenant reconciler', () => {
  it('adds its finalizer and creates every part of a new tenant, then reports it Ready once the quota is counted', async () => {
    const f = tenantFixture();
    f.tenant();
    const first = await f.reconcile();
    assert.ok(f.stored().metadata?.finalizers?.includes(TENANT_FINALIZER));
    assert.deepEqual(
      new Set(kindsWritten(f)),
      new Set(['Tenant', 'Namespace', 'ResourceQuota', 'LimitRange', 'NetworkPolicy', 'Role', 'RoleBinding', 'Secret']),
    );
    assert.deepEqual(f.backends.calls.sort(), ['postgres ensure acme @local', 'redis ensure acme @local']);
    assert.ok(first?.requeueAfterMs, 'it comes back for the quota');
    f.countQuota();
    await f.reconcile();
    assert.equal(f.condition('Ready')?.status, 'True');
    assert.equal(f.stored().status?.phase, 'Ready');
    assert.equal(f.stored().status?.region, 'local', 'the Region its backends live in is recorded');
  });

  it('writes no child and no status when the cache shows the tenant as it wants it', async () => {
    const f = tenantFixture();
    f.tenant();
    await f.reconcile();
    f.countQuota();
    await f.reconcile();
    const before = f.kube.writes.length;
    await f.reconcile();
    assert.deepEqual(f.kube.writes.slice(before), []);
  });

  it('waits for the quota to be counted without writing a status, for at most the grace period after applying it', async () => {
    const f = tenantFixture();
    f.tenant();
    const result = await f.reconcile();
    assert.equal(f.kube.writesOf('Tenant', 'status').length, 0);
    assert.equal(result?.requeueAfterMs, QUOTA_GRACE_MS);
    await f.clock.advance(QUOTA_GRACE_MS);
    await f.reconcile();
    assert.equal(
      f.condition('QuotasReady')?.reason,
      'QuotaPending',
      'past the grace, the status says what it waits for',
    );
  });

  it('reuses the passwords of the existing credentials Secret instead of rotating them', async () => {
    const f = tenantFixture();
    f.tenant();
    await f.reconcile();
    const secret = () => f.kube.find<SecretData>('Secret', 'tenant-acme', 'weir-credentials');
    const first = decode(secret(), 'redis-password');
    assert.ok(first);
    await f.reconcile();
    await f.reconcile();
    assert.equal(decode(secret(), 'redis-password'), first);
    assert.equal(f.kube.writesOf('Secret').length, 1, 'written once');
  });

  const refusals: [string, unknown, string, RegExp][] = [
    [
      'refuses the operator’s own namespace and creates nothing',
      { namespace: 'weir-system' },
      'NamespaceNotAllowed',
      /belongs to the platform/,
    ],
    [
      'refuses a kube- namespace and creates nothing',
      { namespace: 'kube-public' },
      'NamespaceNotAllowed',
      /belongs to the platform or the cluster/,
    ],
  ];
  for (const [name, extra, reason, message] of refusals) {
    it(name, async () => {
      const f = tenantFixture();
      f.tenant('acme', { owners: [{ kind: 'User', name: 'ana' }], ...(extra as object) });
      await f.reconcile();
      assert.equal(f.condition('NamespaceReady')?.reason, reason);
      assert.match(f.condition('Ready')!.message!, message);
      assert.deepEqual(kindsWritten(f), []);
      assert.deepEqual(f.backends.calls, []);
    });
  }

  it('reports a namespace that belongs to another tenant and changes nothing in it', async () => {
    const f = tenantFixture();
    f.kube.seed({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shared', labels: { 'weir.dev/tenant': 'globex' } },
    });
    f.tenant('acme', { owners: [{ kind: 'User', name: 'ana' }], namespace: 'shared' });
    await f.reconcile();
    assert.equal(f.condition('NamespaceReady')?.reason, 'NamespaceConflict');
    assert.match(f.condition('NamespaceReady')!.message!, /belongs to tenant globex/);
    assert.deepEqual(kindsWritten(f), []);
    assert.equal(f.kube.find('Namespace', undefined, 'shared')?.metadata?.labels?.['weir.dev/tenant'], 'globex');
  });

  it('reports an unlabelled namespace that already exists and changes nothing in it', async () => {
    const f = tenantFixture();
    f.kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments' } });
    f.tenant('acme', { owners: [{ kind: 'User', name: 'ana' }], namespace: 'payments' });
    await f.reconcile();
    assert.match(f.condition('NamespaceReady')!.message!, /already exists and is not labelled weir.dev\/tenant=acme/);
    assert.deepEqual(kindsWritten(f), []);
  });

  it('reports two default Regions instead of picking one by list order', async () => {
    const f = tenantFixture({ regions: [region('west'), region('east')] });
    f.tenant();
    await f.reconcile();
    assert.equal(f.condition('RedisReady')?.reason, 'NoRegion');
    assert.match(f.condition('RedisReady')!.message!, /Regions east and west are all marked default/);
    assert.deepEqual(f.backends.calls, []);
  });

  it('keeps using the Region its backends were created in when another becomes the default', async () => {
    const regions = [region('old'), region('new', false)];
    const f = tenantFixture({ regions });
    f.tenant();
    await f.reconcile();
    f.countQuota();
    await f.reconcile();
    assert.equal(f.stored().status?.region, 'old');
    regions[0] = region('old', false);
    regions[1] = region('new', true);
    f.backends.calls.length = 0;
    await f.reconcile();
    assert.deepEqual(f.backends.calls.sort(), ['postgres ensure acme @old', 'redis ensure acme @old']);
  });

  it('says in its status which backend is unreachable, and that it is Degraded once it was Ready', async () => {
    const f = tenantFixture();
    f.tenant();
    await f.reconcile();
    f.countQuota();
    await f.reconcile();
    f.backends.down.add('redis');
    await assert.rejects(f.reconcile(), /not ready/);
    await assert.rejects(f.reconcile(), /not ready/);
    assert.equal(f.condition('RedisReady')?.reason, 'BackendUnreachable');
    assert.equal(f.condition('PostgresReady')?.status, 'True');
    assert.equal(f.stored().status?.phase, 'Degraded', 'however many reconciles find it so');
  });

  it('says why in its status when the reconcile itself fails', async () => {
    const f = tenantFixture();
    f.tenant();
    f.kube.failNext('apply', new Error('etcdserver: request timed out'), 'Tenant');
    await assert.rejects(f.reconcile(), /request timed out/);
    assert.equal(f.condition('Ready')?.reason, 'ReconcileFailed');
    assert.match(f.condition('Ready')!.message!, /request timed out/);
  });

  it('labels every child with a hash of what it applied', async () => {
    const f = tenantFixture();
    f.tenant();
    await f.reconcile();
    assert.ok(f.kube.find('ResourceQuota', 'tenant-acme', 'weir-quota')?.metadata?.annotations?.[HASH_ANNOTATION]);
  });
});

describe('deleting a Tenant', () => {
  async function readyTenant(spec?: unknown, options?: Parameters<typeof tenantFixture>[0]) {
    const f = tenantFixture({ ...options, spec });
    f.tenant();
    await f.reconcile();
    f.countQuota();
    await f.reconcile();
    f.backends.calls.length = 0;
    await f.kube.delete(f.stored());
    return f;
  }

  it('deletes its pipelines first and waits for them, so that each keeps or deletes its topics as it says', async () => {
    const f = await readyTenant();
    f.kube.seed({
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'Pipeline',
      metadata: { name: 'clicks', namespace: 'tenant-acme', finalizers: ['weir.dev/pipeline-topics'] },
    });
    const result = await f.reconcile();
    assert.ok(result?.requeueAfterMs);
    assert.ok(f.kube.find('Pipeline', 'tenant-acme', 'clicks')?.metadata?.deletionTimestamp);
    assert.equal(f.condition('Ready')?.reason, 'DeletingPipelines');
    assert.deepEqual(f.backends.calls, [], 'the backends are left alone while pipelines remain');
  });

  it('disables the credentials, then removes the user and schema under Delete', async () => {
    const f = await readyTenant();
    await f.reconcile();
    assert.deepEqual(f.backends.calls, [
      'redis disable acme @local',
      'postgres disable acme @local',
      'redis delete acme @local',
      'postgres drop acme @local',
    ]);
    assert.equal(f.kube.find('Tenant', undefined, 'acme'), undefined, 'the finalizer is gone, and the tenant with it');
  });

  it('disables the credentials but keeps the user and schema under Retain', async () => {
    const f = await readyTenant({ owners: [{ kind: 'User', name: 'ana' }], deletionPolicy: 'Retain' });
    await f.reconcile();
    assert.deepEqual(f.backends.calls, ['redis disable acme @local', 'postgres disable acme @local']);
    assert.equal(f.kube.find('Tenant', undefined, 'acme'), undefined);
  });

  it('holds the tenant with CleanupFailed while Redis is unreachable', async () => {
    const f = await readyTenant();
    f.backends.down.add('redis');
    await assert.rejects(f.reconcile(), /disabling the tenant's Redis user and Postgres role failed/);
    assert.equal(f.condition('Ready')?.reason, 'CleanupFailed');
    assert.ok(f.kube.find('Tenant', undefined, 'acme'));
  });

  it('lets go past the finalizer timeout, after one more attempt at disabling the credentials', async () => {
    const f = await readyTenant(undefined, { finalizerTimeoutMs: 60_000 });
    f.backends.down.add('redis');
    await f.clock.advance(T0 + 3_600_000);
    await f.reconcile();
    assert.deepEqual(f.backends.calls, ['redis disable acme @local', 'postgres disable acme @local']);
    assert.equal(f.kube.find('Tenant', undefined, 'acme'), undefined);
  });

  it('lets go when annotated, disabling the credentials first', async () => {
    const f = await readyTenant();
    const t = f.stored();
    f.kube.seed({ ...t, metadata: { ...t.metadata, annotations: { 'weir.dev/release-finalizer': 'true' } } });
    f.kube.seed({
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'Pipeline',
      metadata: { name: 'clicks', namespace: 'tenant-acme' },
    });
    await f.reconcile();
    assert.deepEqual(f.backends.calls, ['redis disable acme @local', 'postgres disable acme @local']);
    assert.equal(f.kube.find('Tenant', undefined, 'acme'), undefined);
  });
});
