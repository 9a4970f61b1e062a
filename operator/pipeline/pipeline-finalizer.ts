/**
 * What happens when a Pipeline is deleted: its topics are deleted under
 * `topicDeletionPolicy: Delete` (with the record that claimed them) and kept under `Retain`
 * (the record stays, and no later Pipeline takes them over); its workload goes with its owner
 * through the garbage collector. Kafka being unreachable holds the Pipeline (its status says
 * so) until the finalizer timeout or the release annotation lets it go.
 */
import type { ReconcileResult } from '../../lib/controller/reconcile.ts';
import { errorSummary } from '../../lib/errors/errors.ts';
import { hasFinalizer, removeFinalizer } from '../../lib/kube/finalizers.ts';
import { applyStatusIfChanged } from '../../lib/kube/status.ts';
import { RELEASE_ANNOTATION } from '../../lib/platform/tenant-names.ts';
import type { RegionObject } from '../tenant/region-backends.ts';
import { nextStatus, Reason } from './pipeline-status.ts';
import { claimName } from './topic-claims.ts';
import type { PipelineObject, PipelineReconcilerOptions } from './reconciler.ts';

/** Finalizer that holds a Pipeline until its topics are deleted (policy Delete) or let go (Retain). */
export const PIPELINE_FINALIZER = 'weir.dev/pipeline-topics';

type Deps = Pick<
  PipelineReconcilerOptions,
  'client' | 'kafka' | 'clock' | 'log' | 'finalizerTimeoutMs' | 'platformNamespace'
>;

export async function finalizePipeline(
  o: Deps,
  pipeline: PipelineObject,
  region: RegionObject | undefined,
): Promise<ReconcileResult | void> {
  if (!hasFinalizer(pipeline, PIPELINE_FINALIZER)) return;
  const released = pipeline.metadata?.annotations?.[RELEASE_ANNOTATION] === 'true';
  const overdue = o.clock.now() - Date.parse(String(pipeline.metadata!.deletionTimestamp)) > o.finalizerTimeoutMs;
  const owned = (pipeline.status?.topics ?? []).map((t) => t.name);
  if (pipeline.spec.lifecycle.topicDeletionPolicy === 'Delete' && owned.length && !released && !overdue && region) {
    try {
      await o.kafka.forRegion(region).deleteTopics(owned);
      // With its topics gone, the pipeline name is free again.
      const ns = pipeline.metadata!.namespace!;
      await o.client.delete({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { namespace: o.platformNamespace, name: claimName(ns, pipeline.metadata!.name!) },
      });
    } catch (err) {
      const message = `deleting topics failed: ${errorSummary(err)}; retrying (annotate ${RELEASE_ANNOTATION}=true to let go)`;
      const update = { type: 'Ready', status: 'False', reason: Reason.CleanupFailed, message } as const;
      const { next } = nextStatus(pipeline, { ...pipeline.status, phase: 'Terminating' }, [update], o.clock.now());
      await applyStatusIfChanged(o.client, pipeline, next).catch(() => undefined);
      throw new Error(message);
    }
  }
  await removeFinalizer(o.client, pipeline, PIPELINE_FINALIZER);
  const key = `${pipeline.metadata!.namespace}/${pipeline.metadata!.name}`;
  o.log.info({ key, policy: pipeline.spec.lifecycle.topicDeletionPolicy, topics: owned }, 'pipeline finalized');
}
