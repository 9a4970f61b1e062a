/**
 * What happens when a Tenant is deleted, in order: its Pipelines go first, so that each
 * one's finalizer deletes or keeps its topics as that Pipeline says while the tenant's
 * Region is still known; then the tenant's credentials are disabled (Redis user off,
 * Postgres role NOLOGIN) whatever the deletion policy; then, under `Delete`, the user, keys,
 * role and schema are removed. A backend that stays unreachable holds the Tenant until the
 * finalizer timeout or the release annotation lets it go — after one attempt at disabling
 * the credentials at least.
 */
import type { ReconcileResult } from '../../lib/controller/reconcile.ts';
import { errorSummary } from '../../lib/errors/errors.ts';
import { hasFinalizer, removeFinalizer } from '../../lib/kube/finalizers.ts';
import { applyStatusIfChanged } from '../../lib/kube/status.ts';
import { RELEASE_ANNOTATION, TENANT_FINALIZER, tenantNamespace } from '../../lib/platform/tenant-names.ts';
import type { RegionChoice } from './region-backends.ts';
import type { TenantObject, TenantReconcilerOptions } from './reconciler.ts';
import { nextStatus, Reason } from './tenant-status.ts';

type Deps = Pick<
  TenantReconcilerOptions,
  'client' | 'pipelines' | 'backends' | 'events' | 'clock' | 'log' | 'finalizerTimeoutMs'
>;

/** How soon a tenant waiting for its pipelines to go looks again (their deletion also wakes it). */
const PIPELINE_WAIT_MS = 2_000;

export async function finalizeTenant(
  o: Deps,
  tenant: TenantObject,
  choice: RegionChoice,
): Promise<ReconcileResult | void> {
  if (!hasFinalizer(tenant, TENANT_FINALIZER)) return;
  const name = tenant.metadata!.name!;
  const namespace = tenantNamespace(name, tenant.spec);
  const released = tenant.metadata?.annotations?.[RELEASE_ANNOTATION] === 'true';
  const overdue = o.clock.now() - Date.parse(String(tenant.metadata!.deletionTimestamp)) > o.finalizerTimeoutMs;
  const lettingGo = released || overdue;
  const fail = async (message: string) => {
    const update = { type: 'Ready', status: 'False', reason: Reason.CleanupFailed, message } as const;
    await applyStatusIfChanged(
      o.client,
      tenant,
      nextStatus(tenant, { ...tenant.status }, [update], o.clock.now()).next,
    ).catch(() => undefined);
    throw new Error(message);
  };

  if (!lettingGo) {
    const pipelines = o.pipelines.list().filter((p) => p.metadata?.namespace === namespace);
    if (pipelines.length > 0) {
      await Promise.all(pipelines.filter((p) => !p.metadata?.deletionTimestamp).map((p) => o.client.delete(p)));
      const message = `waiting for ${pipelines.length} pipelines to be deleted, each with its topics as its policy says`;
      const update = { type: 'Ready', status: 'False', reason: Reason.DeletingPipelines, message } as const;
      await applyStatusIfChanged(
        o.client,
        tenant,
        nextStatus(tenant, { ...tenant.status }, [update], o.clock.now()).next,
      );
      return { requeueAfterMs: PIPELINE_WAIT_MS };
    }
  }

  const hold = `; retrying (annotate ${RELEASE_ANNOTATION}=true to let go)`;
  let backends;
  try {
    if (choice.region) {
      backends = await o.backends.forRegion(choice.region);
      await Promise.all([backends.redis.disableUser(name), backends.postgres.disableLogin(name)]);
    }
  } catch (err) {
    const message = `disabling the tenant's Redis user and Postgres role failed: ${errorSummary(err)}`;
    if (!lettingGo) return fail(message + hold);
    o.log.warn(
      { tenant: name, err: errorSummary(err) },
      'letting go of a tenant whose credentials could not be disabled',
    );
  }

  if (tenant.spec.deletionPolicy === 'Delete' && !lettingGo && backends) {
    try {
      await backends.redis.deleteUser(name, { deleteKeys: true });
      await backends.postgres.dropTenant(name);
    } catch (err) {
      return fail(`removing the Redis user and Postgres schema failed: ${errorSummary(err)}${hold}`);
    }
  } else if (lettingGo) {
    const why = released
      ? `finalizer released by ${RELEASE_ANNOTATION}`
      : 'backends unreachable past the finalizer timeout';
    void o.events.record(tenant, 'Warning', 'CleanupAbandoned', `${why}; backend users may remain`);
  }
  await removeFinalizer(o.client, tenant, TENANT_FINALIZER);
  o.log.info(
    { tenant: name, policy: tenant.spec.deletionPolicy, region: choice.region?.metadata?.name },
    'tenant finalized',
  );
}
