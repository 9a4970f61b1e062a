/**
 * The Tenant controller against a real API server, Redis and PostgreSQL, with the operator
 * running as separate processes: tenants become Ready and isolated, drift is repaired,
 * the operator survives crashes, leader changes and API server restarts, a backend outage
 * shows in the status and heals, and deletion cleans up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, PatchStrategy, setHeaderOptions, type V1Secret } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { hasLocalEnv, startComponent, stopComponent, restartComponent } from '../hack/local-env/control-client.ts';
import { applyWeirObject, deleteWeirObject, type Clients } from './cluster.ts';
import { eventually } from './eventually.ts';
import type { OperatorProcess } from './operator-process.ts';
import { env, PLATFORM, REGION, setUpPlatform, startOperator as startPlatformOperator } from './platform.ts';

interface TenantView {
  metadata: { name: string; finalizers?: string[]; managedFields?: { manager?: string; operation?: string }[] };
  status?: {
    phase?: string;
    namespace?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

let clients: Clients;
let operatorKube: string;
const operators: OperatorProcess[] = [];

function tenant(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name },
    spec: {
      owners: [{ kind: 'User', name: `${name}-owner` }],
      regions: [REGION],
      quotas: { cpu: '2', memory: '4Gi', pipelines: 5 },
      ...extra,
    },
  };
}

async function getTenant(name: string): Promise<TenantView> {
  return (await clients.custom.getClusterCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'tenants',
    name,
  })) as TenantView;
}

/** The managedFields entries of the operator's finalizer writes. */
function finalizerManagers(t: TenantView): string[] {
  return (t.metadata.managedFields ?? [])
    .filter((e) => e.manager === 'weir-operator-finalizer')
    .map((e) => `${e.manager}/${e.operation}`);
}

function condition(t: TenantView, type: string) {
  return t.status?.conditions?.find((c) => c.type === type);
}

async function readyTenant(name: string, timeoutMs = 60_000): Promise<TenantView> {
  return eventually(async () => {
    const t = await getTenant(name);
    assert.equal(
      condition(t, 'Ready')?.status,
      'True',
      `tenant ${name} not Ready: ${JSON.stringify(t.status?.conditions)}`,
    );
    return t;
  }, timeoutMs);
}

async function credentials(namespace: string): Promise<Record<string, string>> {
  const secret: V1Secret = await clients.core.readNamespacedSecret({ namespace, name: 'weir-credentials' });
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

async function startOperator(identity: string, args: string[] = []): Promise<OperatorProcess> {
  const op = await startPlatformOperator(operatorKube, identity, args);
  operators.push(op);
  return op;
}

before(async () => {
  assert.ok(hasLocalEnv(), 'the tenant e2e tests need the local environment for Redis and Postgres');
  ({ clients, operatorKube } = await setUpPlatform());
});

after(async () => {
  await Promise.all(operators.map((o) => o.kill()));
});

describe('a tenant', () => {
  it('becomes Ready with its namespace, quotas, network policies, RBAC, Redis user and Postgres schema', async () => {
    await startOperator('solo', ['--leader-elect=false']);
    await applyWeirObject(clients.custom, tenant('alpha') as never);
    await applyWeirObject(clients.custom, tenant('beta') as never);
    const alpha = await readyTenant('alpha');
    assert.equal(alpha.status?.namespace, 'tenant-alpha');
    assert.equal(alpha.status?.phase, 'Ready');
    for (const type of ['NamespaceReady', 'QuotasReady', 'NetworkReady', 'RbacReady', 'RedisReady', 'PostgresReady'])
      assert.equal(condition(alpha, type)?.status, 'True', type);
    assert.deepEqual(alpha.metadata.finalizers, ['weir.dev/tenant-backends']);
    const quota = await clients.core.readNamespacedResourceQuota({ namespace: 'tenant-alpha', name: 'weir-quota' });
    assert.equal(quota.spec?.hard?.['requests.cpu'], '2');
    assert.equal(quota.spec?.hard?.['count/pipelines.weir.dev'], '5');
    await clients.core.readNamespacedLimitRange({ namespace: 'tenant-alpha', name: 'weir-limits' });
    await readyTenant('beta');
  });

  it("cannot read or write another tenant's Redis keys", async () => {
    const a = await credentials('tenant-alpha');
    const b = await credentials('tenant-beta');
    const host = new URL(env('WEIR_REDIS_URL'));
    const asA = new Redis({
      host: host.hostname,
      port: Number(host.port),
      username: a['redis-username'],
      password: a['redis-password'],
      maxRetriesPerRequest: 0,
    });
    try {
      await asA.set(`${a['redis-key-prefix']}greeting`, 'hi');
      assert.equal(await asA.get(`${a['redis-key-prefix']}greeting`), 'hi');
      await assert.rejects(asA.get(`${b['redis-key-prefix']}greeting`), /NOPERM/);
      await assert.rejects(asA.set(`${b['redis-key-prefix']}x`, 'y'), /NOPERM/);
      await assert.rejects(asA.keys('*'), /NOPERM/);
      await assert.rejects(
        asA.call('AUTH', 'default', 'guess'),
        /WRONGPASS/,
        'the default user must not be open to tenants',
      );
    } finally {
      asA.disconnect();
    }
  });

  it("cannot read another tenant's Postgres schema", async () => {
    const a = await credentials('tenant-alpha');
    const b = await credentials('tenant-beta');
    const admin = new URL(env('WEIR_POSTGRES_URL'));
    const connectAs = (c: Record<string, string>) =>
      new pg.Client({
        host: admin.hostname,
        port: Number(admin.port),
        database: c['postgres-database'],
        user: c['postgres-username'],
        password: c['postgres-password'],
      });
    const asB = connectAs(b);
    await asB.connect();
    await asB.query('CREATE TABLE IF NOT EXISTS secrets (v text)');
    await asB.end();
    const asA = connectAs(a);
    await asA.connect();
    try {
      await asA.query('CREATE TABLE IF NOT EXISTS mine (v text)');
      await assert.rejects(asA.query(`SELECT * FROM "${b['postgres-schema']}".secrets`), /permission denied/);
    } finally {
      await asA.end();
    }
  });

  it('records a Ready event that kubectl describe shows', async () => {
    const events = await clients.core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.kind=Tenant,involvedObject.name=alpha',
    });
    assert.ok(
      events.items.some((e) => e.reason === 'Ready' && e.type === 'Normal'),
      JSON.stringify(events.items.map((e) => e.reason)),
    );
  });

  it('leaves fields that other managers own alone', async () => {
    await clients.core.patchNamespace(
      { name: 'tenant-alpha', body: { metadata: { labels: { 'team.example/cost-center': 'c42' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await applyWeirObject(clients.custom, tenant('alpha', { displayName: 'Alpha Inc.' }) as never);
    await readyTenant('alpha');
    await sleep(4000); // a re-sync has passed
    const ns = await clients.core.readNamespace({ name: 'tenant-alpha' });
    assert.equal(ns.metadata?.labels?.['team.example/cost-center'], 'c42');
    assert.equal(ns.metadata?.labels?.['weir.dev/tenant'], 'alpha');
    // The user's apply, which lists no finalizers, leaves the operator's in place.
    assert.deepEqual((await getTenant('alpha')).metadata.finalizers, ['weir.dev/tenant-backends']);
  });

  it('gets a ResourceQuota deleted by hand back within seconds, and follows spec changes', async () => {
    await clients.core.deleteNamespacedResourceQuota({ namespace: 'tenant-alpha', name: 'weir-quota' });
    await eventually(
      () => clients.core.readNamespacedResourceQuota({ namespace: 'tenant-alpha', name: 'weir-quota' }),
      15_000,
    );
    await applyWeirObject(
      clients.custom,
      tenant('alpha', { quotas: { cpu: '3', memory: '4Gi', pipelines: 5 } }) as never,
    );
    await eventually(async () => {
      const quota = await clients.core.readNamespacedResourceQuota({ namespace: 'tenant-alpha', name: 'weir-quota' });
      assert.equal(quota.spec?.hard?.['requests.cpu'], '3');
    }, 15_000);
  });

  it('puts its finalizer back when someone removes it', async () => {
    await clients.custom.patchClusterCustomObject(
      {
        group: 'weir.dev',
        version: 'v1alpha1',
        plural: 'tenants',
        name: 'alpha',
        body: [{ op: 'remove', path: '/metadata/finalizers' }],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await eventually(async () => {
      const t = await getTenant('alpha');
      assert.deepEqual(t.metadata.finalizers, ['weir.dev/tenant-backends']);
      assert.deepEqual(finalizerManagers(t), ['weir-operator-finalizer/Apply']);
    }, 15_000);
  });

  it('shows which part fails while Redis is down and recovers on its own', async () => {
    await stopComponent('redis');
    try {
      await eventually(async () => {
        const t = await getTenant('alpha');
        assert.equal(condition(t, 'RedisReady')?.status, 'False');
        assert.equal(condition(t, 'PostgresReady')?.status, 'True');
        assert.equal(condition(t, 'Ready')?.status, 'False');
        assert.equal(t.status?.phase, 'Degraded');
      }, 30_000);
    } finally {
      await startComponent('redis');
    }
    await readyTenant('alpha', 60_000);
  });

  it('reconciles changes made after kube-apiserver restarts under the operator', async () => {
    await restartComponent('kube-apiserver');
    await applyWeirObject(clients.custom, tenant('gamma') as never);
    await readyTenant('gamma', 90_000);
  });

  it('is cleaned up on deletion: Redis user and Postgres schema go, the namespace is collected', async () => {
    const c = await credentials('tenant-gamma');
    await deleteWeirObject(clients.custom, tenant('gamma'));
    await eventually(async () => {
      await assert.rejects(getTenant('gamma'), (err: { code?: number }) => err.code === 404);
    }, 30_000);
    const admin = new Redis(env('WEIR_REDIS_URL'));
    const pgAdmin = new pg.Client({ connectionString: env('WEIR_POSTGRES_URL') });
    await pgAdmin.connect();
    try {
      assert.equal(await admin.call('ACL', 'GETUSER', c['redis-username']!), null);
      const roles = await pgAdmin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [c['postgres-username']]);
      assert.equal(roles.rowCount, 0);
    } finally {
      admin.disconnect();
      await pgAdmin.end();
    }
    await eventually(async () => {
      const ns = await clients.core
        .readNamespace({ name: 'tenant-gamma' })
        .catch((err: { code?: number }) => (err.code === 404 ? undefined : Promise.reject(err)));
      assert.ok(!ns || ns.metadata?.deletionTimestamp, 'the namespace is still there');
    }, 30_000);
    await operators.pop()!.stop();
  });
});

describe('the operator', () => {
  it('converges after being killed in the middle of reconciling', async () => {
    const first = await startOperator('crashy', ['--leader-elect=false']);
    const names = ['delta', 'epsilon', 'zeta', 'eta', 'kappa', 'lambda', 'mu', 'nu'];
    await Promise.all(names.map((n) => applyWeirObject(clients.custom, tenant(n) as never)));
    await eventually(() => assert.ok(first.logs.some((l) => l.msg === 'starting controllers')), 30_000);
    await sleep(100);
    await first.kill();
    const readyAtCrash = (await Promise.all(names.map(getTenant))).filter(
      (t) => condition(t, 'Ready')?.status === 'True',
    ).length;
    assert.ok(
      readyAtCrash < names.length,
      'every tenant was already Ready when the operator was killed: the crash came too late to test anything',
    );
    await startOperator('recovered', ['--leader-elect=false']);
    for (const n of names) await readyTenant(n, 90_000);
    await operators.pop()!.stop();
  });

  it('runs controllers only on the leader, and a replica takes over within about the lease duration when the leader dies', async () => {
    const one = await startOperator('replica-one');
    const two = await startOperator('replica-two');
    await Promise.all([one.ready(), two.ready()]);
    const leases = clients.kc.makeApiClient(CoordinationV1Api);
    const holder = await eventually(async () => {
      const lease = await leases.readNamespacedLease({ namespace: PLATFORM, name: 'weir-operator' });
      const h = lease.spec?.holderIdentity;
      assert.ok(h === 'replica-one' || h === 'replica-two', `holder is ${h}`);
      return h;
    }, 30_000);
    const [leader, follower] = holder === 'replica-one' ? [one, two] : [two, one];
    await applyWeirObject(clients.custom, tenant('theta') as never);
    await readyTenant('theta');
    assert.match(await leader.metrics(), /leader_election_master_status\{name="weir-operator"\} 1/);
    assert.match(await follower.metrics(), /leader_election_master_status\{name="weir-operator"\} 0/);
    assert.doesNotMatch(
      await follower.metrics(),
      /controller_runtime_reconcile_total\{controller="tenant",result="success"\} [1-9]/,
    );

    const killedAt = Date.now();
    await leader.kill();
    await eventually(
      async () => {
        const lease = await leases.readNamespacedLease({ namespace: PLATFORM, name: 'weir-operator' });
        assert.equal(lease.spec?.holderIdentity, follower.identity);
      },
      30_000,
      200,
    );
    const takeover = Date.now() - killedAt;
    assert.ok(takeover < 4_000 * 3, `takeover took ${takeover} ms with a 4 s lease`);
    await applyWeirObject(clients.custom, tenant('iota') as never);
    await readyTenant('iota');
    await follower.stop();
  });
});

describe('deleting a tenant', () => {
  it('keeps the Redis user and Postgres schema when the policy is Retain', async () => {
    const op = await startOperator('deleter', ['--leader-elect=false']);
    // Restored from a backup, say: the manifest lists the operator's finalizer itself, so
    // the finalizer is the restorer's as much as the operator's, and still must go.
    await applyWeirObject(clients.custom, {
      ...tenant('kept', { deletionPolicy: 'Retain' }),
      metadata: { name: 'kept', finalizers: ['weir.dev/tenant-backends'] },
    } as never);
    await readyTenant('kept');
    const c = await credentials('tenant-kept');
    await deleteWeirObject(clients.custom, tenant('kept'));
    await eventually(() => assert.rejects(getTenant('kept'), (err: { code?: number }) => err.code === 404), 30_000);
    const admin = new Redis(env('WEIR_REDIS_URL'));
    try {
      assert.notEqual(
        await admin.call('ACL', 'GETUSER', c['redis-username']!),
        null,
        'the Redis user was removed despite Retain',
      );
    } finally {
      admin.disconnect();
    }
    await op.stop();
    operators.splice(operators.indexOf(op), 1);
  });

  it('waits for an unreachable Postgres, says so in a condition, and lets go when released by annotation', async () => {
    const op = await startOperator('releaser', ['--leader-elect=false']);
    await applyWeirObject(clients.custom, tenant('stuck') as never);
    await readyTenant('stuck');
    await stopComponent('postgres');
    try {
      await deleteWeirObject(clients.custom, tenant('stuck'));
      const t = await eventually(async () => {
        const current = await getTenant('stuck');
        assert.equal(condition(current, 'Ready')?.reason, 'CleanupFailed');
        return current;
      }, 30_000);
      assert.equal(t.status?.phase, 'Terminating');
      assert.match(condition(t, 'Ready')?.message ?? '', /weir\.dev\/release-finalizer/);
      await sleep(2000);
      assert.equal((await getTenant('stuck')).metadata.name, 'stuck', 'the finalizer let go while Postgres was down');
      await clients.custom.patchClusterCustomObject(
        {
          group: 'weir.dev',
          version: 'v1alpha1',
          plural: 'tenants',
          name: 'stuck',
          body: { metadata: { annotations: { 'weir.dev/release-finalizer': 'true' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await eventually(() => assert.rejects(getTenant('stuck'), (err: { code?: number }) => err.code === 404), 30_000);
    } finally {
      await startComponent('postgres');
    }
    await op.stop();
    operators.splice(operators.indexOf(op), 1);
  });
});
