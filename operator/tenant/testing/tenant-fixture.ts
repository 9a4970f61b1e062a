/**
 * A Tenant reconciler wired to fakes — the API client, the Region's backends, a clock — so
 * that its decisions can be tested without servers. What it wrote is in `kube.writes` and
 * `backends.calls`; the caches read from the fake API client's store.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { RegionSpec } from '../../../crds/region.ts';
import { TenantSpec } from '../../../crds/tenant.ts';
import { FakeClock } from '../../../lib/clock/clock.ts';
import { ChildApplier, type ChildCache } from '../../../lib/controller/child-applier.ts';
import { EventRecorder } from '../../../lib/kube/event-recorder.ts';
import { FakeKubeClient } from '../../../lib/kube/testing/fake-kube-client.ts';
import { silentLogger } from '../../../lib/observability/logger.ts';
import { TenantReconciler, type TenantObject } from '../reconciler.ts';
import type { Backends, BackendsSource, RegionObject } from '../region-backends.ts';

export const T0 = Date.parse('2030-01-01T00:00:00Z');

/** A Region named `name`; default unless told otherwise. */
export function region(name: string, isDefault = true): RegionObject {
  return {
    metadata: { name },
    spec: RegionSpec.parse({
      default: isDefault,
      kafka: { bootstrapServers: ['kafka:9092'] },
      redis: { endpoints: [`redis-${name}:6379`] },
      postgres: { primary: `pg-${name}:5432`, adminCredentialsSecretRef: { namespace: 'weir-system', name: 'pg' } },
    }),
  };
}

/** Backends that record what is asked of them, by Region; `down` makes one of them fail. */
export class FakeBackends implements BackendsSource {
  readonly calls: string[] = [];
  down = new Set<'redis' | 'postgres'>();

  async forRegion(r: RegionObject): Promise<Backends> {
    const name = r.metadata!.name!;
    const call = async <T>(backend: 'redis' | 'postgres', what: string, result: T): Promise<T> => {
      this.calls.push(`${backend} ${what} @${name}`);
      if (this.down.has(backend)) throw new Error(`${backend} at ${backend}-${name}: connection refused`);
      return result;
    };
    return {
      region: name,
      redisEndpoint: `redis-${name}:6379`,
      postgresEndpoint: `pg-${name}:5432`,
      database: 'weir',
      redis: {
        ensureUser: ({ tenant }) =>
          call('redis', `ensure ${tenant}`, { user: `weir-tenant-${tenant}`, keyPrefix: `tenant:${tenant}:` }),
        disableUser: (tenant) => call('redis', `disable ${tenant}`, true),
        deleteUser: (tenant) =>
          call('redis', `delete ${tenant}`, { userExisted: true, connectionsKilled: 0, keysDeleted: 0 }),
        ping: () => call('redis', 'ping', 0.2),
      },
      postgres: {
        ensureTenant: ({ tenant }) =>
          call('postgres', `ensure ${tenant}`, {
            role: tenant.replace(/-/g, '_'),
            schema: tenant.replace(/-/g, '_'),
            database: 'weir',
          }),
        disableLogin: (tenant) => call('postgres', `disable ${tenant}`, true),
        dropTenant: (tenant) => call('postgres', `drop ${tenant}`, { existed: true }),
        ping: () => call('postgres', 'ping', 0.3),
      },
    };
  }
}

/** Everything a test of the Tenant reconciler needs. */
export function tenantFixture(options: { regions?: RegionObject[]; spec?: unknown; finalizerTimeoutMs?: number } = {}) {
  const clock = new FakeClock({ now: T0 });
  const kube = new FakeKubeClient({ now: () => clock.now() });
  const backends = new FakeBackends();
  const regions = options.regions ?? [region('local')];
  const children: ChildCache = { get: (kind, namespace, name) => kube.find(kind, namespace || undefined, name) };
  const reconciler = new TenantReconciler({
    client: kube.client,
    tenants: { get: (key) => kube.find<TenantObject>('Tenant', undefined, key) },
    regions: { list: () => regions },
    pipelines: { list: () => kube.all('Pipeline') },
    children,
    childApplier: new ChildApplier({ client: kube.client, children, clock, refreshMs: 600_000 }),
    backends,
    events: new EventRecorder({
      client: kube.client,
      component: 'weir-test',
      instance: 'test',
      clock,
      log: silentLogger(),
    }),
    clock,
    log: silentLogger(),
    platformNamespace: 'weir-system',
    finalizerTimeoutMs: options.finalizerTimeoutMs ?? 3_600_000,
  });
  const tenant = (name = 'acme', spec: unknown = options.spec ?? { owners: [{ kind: 'User', name: 'ana' }] }) =>
    kube.seed<TenantObject>({
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'Tenant',
      metadata: { name, generation: 1, creationTimestamp: new Date(T0 - 60_000).toISOString() as never },
      spec: TenantSpec.parse(spec),
    });
  /** Counts the tenant's ResourceQuota, as the quota controller does. */
  const countQuota = (namespace = 'tenant-acme') => {
    const quota = kube.find<KubernetesObject & { spec: { hard: Record<string, string> } }>(
      'ResourceQuota',
      namespace,
      'weir-quota',
    );
    if (quota) kube.seed({ ...quota, status: { hard: quota.spec.hard, used: {} } });
  };
  const reconcile = (name = 'acme') => reconciler.reconcile({ key: name, name });
  const stored = (name = 'acme') => kube.find<TenantObject>('Tenant', undefined, name)!;
  const condition = (type: string, name = 'acme') => stored(name).status?.conditions?.find((c) => c.type === type);
  return { kube, clock, backends, tenant, countQuota, reconcile, stored, condition, reconciler };
}
