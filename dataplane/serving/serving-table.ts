/**
 * What serving serves, as a pure function of the Tenants and Pipelines it watches: for each
 * pipeline its tenant, its aggregations (window, groupBy, measures) and where their results
 * are kept — Redis for current windows when `sinks.redis` is set, the `sinks.postgres` table
 * in the tenant's schema for closed ones. Requests find pipelines only under the tenant
 * their token belongs to ({@link pipelinesOf}), so another tenant's pipeline cannot be named.
 */
import type { z } from 'zod';
import type { Window } from '../../crds/pipeline.ts';
import { postgresTenantName } from '../../lib/postgres/postgres-tenant-store.ts';
import {
  tenantsByNamespace,
  type PipelineObject,
  type TenantEntry,
  type TenantObject,
} from '../../lib/platform/watched-objects.ts';

/** One aggregation as queries need it. */
export interface ServedAggregation {
  name: string;
  window: z.output<typeof Window>;
  groupBy: string[];
  measures: { name: string; type: string }[];
}

/** One pipeline as queries need it. */
export interface ServedPipeline {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  tenant: TenantEntry;
  aggregations: Map<string, ServedAggregation>;
  /** Whether current windows are kept in Redis. */
  current: boolean;
  /** Where closed windows are kept: the tenant's schema and the sink's table. */
  history: { schema: string; table: string } | undefined;
}

/** Everything serving serves at one moment. */
export interface ServingTable {
  tenantsByName: Map<string, TenantEntry>;
  /** Pipelines by tenant name, then by `namespace/name`. */
  pipelinesByTenant: Map<string, Map<string, ServedPipeline>>;
}

/** Builds the table; objects being deleted and pipelines of no live tenant are left out. */
export function buildServingTable(
  tenants: readonly TenantObject[],
  pipelines: readonly PipelineObject[],
): ServingTable {
  const byNamespace = tenantsByNamespace(tenants);
  const tenantsByName = new Map([...byNamespace.values()].map((t) => [t.name, t]));
  const pipelinesByTenant = new Map<string, Map<string, ServedPipeline>>();
  for (const p of pipelines) {
    const namespace = p.metadata?.namespace;
    const name = p.metadata?.name;
    const tenant = namespace ? byNamespace.get(namespace) : undefined;
    if (!namespace || !name || !tenant || p.metadata?.deletionTimestamp) continue;
    const key = `${namespace}/${name}`;
    const aggregations = new Map<string, ServedAggregation>(
      (p.spec.aggregate ?? []).map((a) => [
        a.name,
        {
          name: a.name,
          window: a.window,
          groupBy: a.groupBy ?? [],
          measures: a.measures.map((m) => ({ name: m.name, type: m.type })),
        },
      ]),
    );
    const served: ServedPipeline = {
      key,
      namespace,
      name,
      tenant,
      aggregations,
      current: Boolean(p.spec.sinks.redis),
      history: p.spec.sinks.postgres
        ? { schema: postgresTenantName(tenant.name), table: p.spec.sinks.postgres.table }
        : undefined,
    };
    let own = pipelinesByTenant.get(tenant.name);
    if (!own) pipelinesByTenant.set(tenant.name, (own = new Map()));
    own.set(key, served);
  }
  return { tenantsByName, pipelinesByTenant };
}

/** The pipelines of one tenant, by `namespace/name`; empty for a tenant that has none. */
export function pipelinesOf(table: ServingTable, tenant: string): ReadonlyMap<string, ServedPipeline> {
  return table.pipelinesByTenant.get(tenant) ?? new Map();
}
