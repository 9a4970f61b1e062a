/**
 * A Pipeline's Kafka topics: claimed by uid in a record in the platform namespace before
 * they are created (see topic-claims.ts), so that a topic that exists without this Pipeline's
 * claim was made by someone else — taken over only with `spec.source.adoptExistingTopics`,
 * and never when an earlier Pipeline of the same name claimed it; partitions only grow;
 * configuration drift is reverted.
 */
import type { PipelineStatus } from '../../crds/pipeline.ts';
import { errorSummary, Errors, hasCode } from '../../lib/errors/errors.ts';
import type { ConditionUpdate } from '../../lib/kube/conditions.ts';
import {
  isTransientKafkaError,
  planTopicChanges,
  type TopicAdmin,
  type TopicSpec,
  type TopicState,
} from '../../lib/kafka/topic-admin.ts';
import type { TopicRole } from '../../lib/platform/pipeline-names.ts';
import type { Logger } from 'pino';
import type { PipelineObject } from './reconciler.ts';
import { Reason } from './pipeline-status.ts';
import { ownership, type TopicClaim } from './topic-claims.ts';

/** What the topics part needs besides the topic admin. */
export interface TopicsDeps {
  admin: TopicAdmin;
  /**
   * The record of who owns the pipeline name's topics, as the API server has it (the child
   * cache keeps only metadata, and a record written moments ago may not be cached yet).
   */
  readClaim(): Promise<TopicClaim | undefined>;
  /** Records the claim; resolves once the API server stored it. */
  writeClaim(claim: TopicClaim): Promise<void>;
  /** Names the record in messages, such as `weir-system/weir-topics.tenant-acme.clicks`. */
  recordName: string;
  /** The tenant that owns the pipeline's namespace, recorded with the claim. */
  tenant: string;
  log: Logger;
}

/** Converges the topics; fills `status.topics` and says how it went. */
export async function reconcileTopics(
  deps: TopicsDeps,
  pipeline: PipelineObject,
  topics: Map<TopicRole, TopicSpec>,
  status: PipelineStatus,
): Promise<ConditionUpdate> {
  const names = [...topics.values()].map((t) => t.name);
  let current: Map<string, TopicState>;
  try {
    current = await deps.admin.describe(names);
    const claim = await deps.readClaim();
    const owner = ownership({
      pipelineUid: pipeline.metadata!.uid!,
      claim,
      claimedInStatus: new Set((pipeline.status?.topics ?? []).map((t) => t.name)),
      existing: names.filter((n) => current.has(n)),
      adopt: pipeline.spec.source.adoptExistingTopics,
      recordName: deps.recordName,
    });
    if (!owner.ok)
      return { type: 'TopicsReady', status: 'False', reason: Reason.ResourceConflict, message: owner.message };
    // Claimed before anything is created, and for every topic the pipeline will have.
    const claimed = new Set(claim?.topics ?? []);
    if (!claim || names.some((n) => !claimed.has(n)))
      await deps.writeClaim({
        pipelineUid: pipeline.metadata!.uid!,
        tenant: deps.tenant,
        topics: [...new Set([...claimed, ...names])],
      });
    // Kept in the status this reconcile ends with, should creating the topics fail.
    status.topics = [...topics].map(([role, t]) => ({
      role,
      name: t.name,
      partitions: current.get(t.name)?.partitions ?? 0,
    }));
    const toCreate: TopicSpec[] = [];
    let changed = false;
    for (const [, desired] of topics) {
      const plan = planTopicChanges(desired, current.get(desired.name));
      if (plan.action === 'unsupported')
        return { type: 'TopicsReady', status: 'False', reason: plan.reason, message: plan.message };
      if (plan.action === 'create') toCreate.push(desired);
      if (plan.action !== 'update') continue;
      changed = true;
      if (plan.increasePartitionsTo !== undefined)
        await deps.admin.increasePartitions(desired.name, plan.increasePartitionsTo);
      if (plan.setConfig) {
        await deps.admin.alterConfig(desired.name, plan.setConfig);
        deps.log.info({ topic: desired.name, config: plan.setConfig }, 'reverted topic configuration drift');
      }
    }
    // One request creates every missing topic of the pipeline.
    if (toCreate.length) await deps.admin.create(toCreate);
    // Only what was just created or changed needs describing again.
    if (toCreate.length || changed) current = await deps.admin.describe(names);
  } catch (err) {
    const reason = hasCode(err, Errors.KafkaUnavailable)
      ? Reason.KafkaUnreachable
      : isTransientKafkaError(err)
        ? Reason.KafkaBusy
        : Reason.ApplyFailed;
    return { type: 'TopicsReady', status: 'False', reason, message: `Kafka: ${errorSummary(err)}` };
  }
  status.topics = [...topics].map(([role, t]) => ({
    role,
    name: t.name,
    partitions: current.get(t.name)?.partitions ?? 0,
    topicId: current.get(t.name)?.topicId,
  }));
  return {
    type: 'TopicsReady',
    status: 'True',
    reason: Reason.Created,
    message: `${topics.size} topics with ${pipeline.spec.source.partitions} partitions each`,
  };
}
