/**
 * Which Pipeline a pipeline name's topics belong to, by uid, recorded in the platform
 * namespace before the topics are created. The record outlives the Pipeline (and its
 * tenant's namespace) when the topics are kept, so that a later Pipeline of the same name —
 * of a later tenant of the same namespace, say — can never take over the topics, and their
 * data, of an earlier one: it is told whose they were and how to let them go.
 */
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { MANAGED_BY } from '../../lib/platform/tenant-names.ts';

/** A record of ownership. */
export interface TopicClaim {
  pipelineUid: string;
  tenant: string;
  topics: string[];
}

/** Label of the records, so that the operator watches them. */
export const CLAIM_LABEL = 'weir.dev/topic-claim';

/** The name of the record of a pipeline name: `weir-topics.<namespace>.<pipeline>`. */
export function claimName(namespace: string, pipeline: string): string {
  return `weir-topics.${namespace}.${pipeline}`;
}

/** The record as a ConfigMap in the platform namespace. */
export function desiredClaim(
  platformNamespace: string,
  namespace: string,
  pipeline: string,
  claim: TopicClaim,
): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: claimName(namespace, pipeline),
      namespace: platformNamespace,
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, [CLAIM_LABEL]: 'true' },
    },
    data: { pipelineUid: claim.pipelineUid, tenant: claim.tenant, topics: claim.topics.join(',') },
  };
}

/** The record a ConfigMap holds, if it holds one. */
export function claimOf(obj: KubernetesObject | undefined): TopicClaim | undefined {
  const data = (obj as V1ConfigMap | undefined)?.data;
  if (!data?.pipelineUid) return undefined;
  return {
    pipelineUid: data.pipelineUid,
    tenant: data.tenant ?? '',
    topics: (data.topics ?? '').split(',').filter(Boolean),
  };
}

/** Whether a Pipeline may use its topics, given who claimed them and which of them exist already. */
export function ownership(options: {
  pipelineUid: string;
  claim: TopicClaim | undefined;
  /** Topics the Pipeline's status lists as its own (written by earlier versions of the operator). */
  claimedInStatus: ReadonlySet<string>;
  existing: readonly string[];
  adopt: boolean;
  recordName: string;
}): { ok: true } | { ok: false; message: string } {
  const { claim, pipelineUid, existing } = options;
  if (claim && claim.pipelineUid !== pipelineUid)
    return {
      ok: false,
      message: `the topics of this pipeline name belong to an earlier Pipeline (uid ${claim.pipelineUid}, tenant ${claim.tenant}) that was deleted with its topics kept; they are never taken over by another: delete them, or delete the ConfigMap ${options.recordName} to release them`,
    };
  if (claim || options.adopt) return { ok: true };
  const foreign = existing.find((t) => !options.claimedInStatus.has(t));
  if (!foreign) return { ok: true };
  return {
    ok: false,
    message: `topic ${foreign} already exists and this Pipeline did not create it; set spec.source.adoptExistingTopics to take it over`,
  };
}
