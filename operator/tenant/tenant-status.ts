/**
 * A Tenant's status as pure functions of what a reconcile found: its conditions (one per
 * part, and Ready summarising them), its phase, and whether it just became ready or lost it.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { TenantStatus } from '../../crds/tenant.ts';
import { setCondition, type Condition, type ConditionUpdate } from '../../lib/kube/conditions.ts';

/** Condition reasons a Tenant reports. */
export const Reason = {
  Ready: 'Ready',
  Created: 'Created',
  ApplyFailed: 'ApplyFailed',
  NoRegion: 'NoRegion',
  BackendUnreachable: 'BackendUnreachable',
  NotSupported: 'NotSupported',
  CleanupFailed: 'CleanupFailed',
  QuotaPending: 'QuotaPending',
  ReconcileFailed: 'ReconcileFailed',
  NamespaceNotAllowed: 'NamespaceNotAllowed',
  NamespaceConflict: 'NamespaceConflict',
  DeletingPipelines: 'DeletingPipelines',
} as const;

/**
 * How long a new tenant waits for the quota controller to count its ResourceQuota before
 * its status says it is waiting: the count usually comes within a second, and a status
 * written before it would be written again moments later (a status write is the dearest
 * thing a tenant costs the API server).
 */
export const QUOTA_GRACE_MS = 5_000;

/**
 * Until the quota controller has counted a new ResourceQuota, the API server refuses to
 * create what it limits (Pipelines among them): the tenant is not ready before that.
 */
export function quotaCounted(
  part: ConditionUpdate,
  desired: Record<string, string>,
  quota: (KubernetesObject & { status?: { hard?: Record<string, unknown> } }) | undefined,
): ConditionUpdate {
  if (part.status !== 'True' || Object.keys(desired).every((k) => quota?.status?.hard?.[k] !== undefined)) return part;
  return {
    type: part.type,
    status: 'Unknown',
    reason: Reason.QuotaPending,
    message: 'waiting for the quota controller to count the ResourceQuota',
  };
}

/** Whether a tenant that never had a Ready condition has everything in place but a counted quota. */
export function waitingOnlyForQuota(status: TenantStatus | undefined, parts: readonly ConditionUpdate[]): boolean {
  if (status?.conditions?.some((c) => c.type === 'Ready')) return false;
  return (
    parts.every((p) => p.status === 'True' || p.reason === Reason.QuotaPending) &&
    parts.some((p) => p.reason === Reason.QuotaPending)
  );
}

/** The status to write, and whether the tenant became ready or stopped being ready with it. */
export function nextStatus(
  tenant: KubernetesObject & { status?: TenantStatus },
  status: TenantStatus,
  updates: readonly ConditionUpdate[],
  now: number,
): { next: TenantStatus; became?: 'ready' | 'unready' } {
  const generation = tenant.metadata?.generation ?? 0;
  let conditions: Condition[] | undefined = tenant.status?.conditions;
  for (const update of updates) conditions = setCondition(conditions, update, generation, new Date(now));
  const ready = updates.at(-1)!;
  const wasReady = tenant.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const isReady = ready.type === 'Ready' && ready.status === 'True';
  // A tenant that was ever Ready is Degraded until it is again, however many reconciles find it not ready.
  const everReady = wasReady || tenant.status?.phase === 'Ready' || tenant.status?.phase === 'Degraded';
  const phase = tenant.metadata?.deletionTimestamp
    ? 'Terminating'
    : isReady
      ? 'Ready'
      : everReady
        ? 'Degraded'
        : 'Provisioning';
  const next: TenantStatus = { ...status, observedGeneration: generation, conditions, phase };
  return { next, became: isReady && !wasReady ? 'ready' : !isReady && wasReady ? 'unready' : undefined };
}
