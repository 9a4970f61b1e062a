/** Whether a tenant's quotas leave room for a pipeline, as a pure function of the tenant and its pipelines. */
import type { PipelineSpec } from '../../crds/pipeline.ts';
import type { TenantSpec } from '../../crds/tenant.ts';
import { durationMs } from '../../lib/platform/duration.ts';
import { partitionsUsed } from './desired-topics.ts';

/** A pipeline as the quota check sees it. */
export interface QuotaPipeline {
  metadata?: {
    name?: string;
    namespace?: string;
    creationTimestamp?: Date | string;
    deletionTimestamp?: Date | string;
  };
  spec: PipelineSpec;
}

/** Oldest first, then by name: the pipelines created first keep their room. */
function creationOrder(a: QuotaPipeline, b: QuotaPipeline): number {
  const ta = String(a.metadata?.creationTimestamp ?? '');
  const tb = String(b.metadata?.creationTimestamp ?? '');
  return ta === tb ? (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '') : ta.localeCompare(tb);
}

/** Why the tenant's quotas leave no room for `pipeline`, or undefined if they do. */
export function quotaProblem(
  pipeline: QuotaPipeline,
  tenant: { name: string; spec: Pick<TenantSpec, 'quotas'> },
  pipelinesOfNamespace: readonly QuotaPipeline[],
): string | undefined {
  const quotas = tenant.spec.quotas;
  if (durationMs(pipeline.spec.source.retention) > durationMs(quotas.maxRetention))
    return `spec.source.retention ${pipeline.spec.source.retention} exceeds tenant ${tenant.name}'s maxRetention ${quotas.maxRetention}`;
  const all = pipelinesOfNamespace.filter((p) => !p.metadata?.deletionTimestamp).sort(creationOrder);
  let partitions = 0;
  for (const [index, p] of all.entries()) {
    partitions += partitionsUsed(p.spec);
    if (p.metadata?.name !== pipeline.metadata?.name) continue;
    if (index >= quotas.pipelines)
      return `tenant ${tenant.name} may have ${quotas.pipelines} pipelines; this is number ${index + 1}`;
    if (partitions > quotas.partitions)
      return `tenant ${tenant.name} may have ${quotas.partitions} partitions; with this pipeline's ${partitionsUsed(p.spec)} it would have ${partitions}`;
    return undefined;
  }
  return undefined;
}
