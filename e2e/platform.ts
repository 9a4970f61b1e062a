/**
 * What the operator e2e tests share: the platform namespace, a Region pointing at the
 * local environment's Redis, Postgres and Kafka with admin credentials in Secrets, and a
 * kubeconfig for the operator's service account under the chart's RBAC.
 */
import assert from 'node:assert/strict';
import { applyWeirObject, connect, ensureNamespace, installCrds, operatorKubeconfig, type Clients } from './cluster.ts';
import { freePort } from '../hack/local-env/ports.ts';
import { eventually } from './eventually.ts';
import { OperatorProcess } from './operator-process.ts';

export const PLATFORM = 'weir-system';
export const REGION = 'e2e-local';
/** Short re-sync and lease timings so that tests see convergence in seconds. */
export const FAST = [
  '--resync-period=3',
  '--lease-duration=4',
  '--renew-deadline=3',
  '--retry-period=1',
  '--region-probe-period=2',
];

export function env(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
}

async function replaceSecret(clients: Clients, name: string, data: Record<string, string>): Promise<void> {
  await clients.core.deleteNamespacedSecret({ namespace: PLATFORM, name }).catch(() => undefined);
  await clients.core.createNamespacedSecret({ namespace: PLATFORM, body: { metadata: { name }, stringData: data } });
}

/** Installs the CRDs, the Region and the operator's RBAC; returns clients and the operator's kubeconfig. */
export async function setUpPlatform(): Promise<{ clients: Clients; operatorKube: string }> {
  const clients = connect();
  await installCrds(clients);
  await ensureNamespace(clients.core, PLATFORM);
  const operatorKube = await operatorKubeconfig(clients, PLATFORM);
  const pgUrl = new URL(env('WEIR_POSTGRES_URL'));
  const redisUrl = new URL(env('WEIR_REDIS_URL'));
  await replaceSecret(clients, 'e2e-postgres-admin', {
    username: decodeURIComponent(pgUrl.username),
    password: decodeURIComponent(pgUrl.password),
  });
  await replaceSecret(clients, 'e2e-redis-admin', {
    username: decodeURIComponent(redisUrl.username) || 'default',
    password: decodeURIComponent(redisUrl.password),
  });
  await applyWeirObject(clients.custom, {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Region',
    metadata: { name: REGION },
    spec: {
      kafka: { bootstrapServers: [env('WEIR_KAFKA_BROKERS')] },
      redis: {
        endpoints: [redisUrl.host],
        adminCredentialsSecretRef: { namespace: PLATFORM, name: 'e2e-redis-admin' },
      },
      postgres: {
        primary: pgUrl.host,
        database: 'postgres',
        adminCredentialsSecretRef: { namespace: PLATFORM, name: 'e2e-postgres-admin' },
      },
    },
  } as never);
  return { clients, operatorKube };
}

/** Starts an operator replica under the chart's RBAC. */
export async function startOperator(
  operatorKube: string,
  identity: string,
  args: string[] = [],
): Promise<OperatorProcess> {
  return new OperatorProcess(identity, {
    kubeconfig: operatorKube,
    namespace: PLATFORM,
    healthPort: await freePort(),
    args: [...FAST, ...args],
  });
}

/** Applies a Tenant in the platform's Region, owned by `<name>-owner`, and waits until it is Ready. */
export async function readyTenant(clients: Clients, name: string, quotas: Record<string, unknown>): Promise<void> {
  await applyWeirObject(clients.custom, {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name },
    spec: { owners: [{ kind: 'User', name: `${name}-owner` }], regions: [REGION], quotas },
  } as never);
  await eventually(async () => {
    const t = (await clients.custom.getClusterCustomObject({
      group: 'weir.dev',
      version: 'v1alpha1',
      plural: 'tenants',
      name,
    })) as { status?: { phase?: string } };
    assert.equal(t.status?.phase, 'Ready');
  }, 60_000);
}
