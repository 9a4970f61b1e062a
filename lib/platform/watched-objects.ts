/**
 * Tenants and Pipelines as the data-plane services' informers cache them, and the tenants
 * by the namespace each owns, which every service resolves requests through. Objects being
 * deleted are left out: a service stops serving them at once.
 */
import type { PipelineSpec, PipelineStatus } from '../../crds/pipeline.ts';
import type { TenantSpec } from '../../crds/tenant.ts';
import { tenantNamespace } from './tenant-names.ts';

/** A Tenant as a service's informer caches it. */
export interface TenantObject {
  metadata?: { name?: string; deletionTimestamp?: unknown };
  spec: TenantSpec;
}

/** A Pipeline as a service's informer caches it. */
export interface PipelineObject {
  metadata?: { name?: string; namespace?: string; deletionTimestamp?: unknown };
  spec: PipelineSpec;
  status?: PipelineStatus;
}

/** A tenant as requests need it. */
export interface TenantEntry {
  name: string;
  namespace: string;
  spec: TenantSpec;
}

/** The live tenants by the namespace each owns. */
export function tenantsByNamespace(tenants: readonly TenantObject[]): Map<string, TenantEntry> {
  const byNamespace = new Map<string, TenantEntry>();
  for (const t of tenants) {
    const name = t.metadata?.name;
    if (!name || t.metadata?.deletionTimestamp) continue;
    const namespace = tenantNamespace(name, t.spec);
    byNamespace.set(namespace, { name, namespace, spec: t.spec });
  }
  return byNamespace;
}
