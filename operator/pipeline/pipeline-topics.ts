/**
 * A Pipeline's Kafka topics: claimed in the Pipeline's status before they are created, so
 * that a topic that exists without a claim was made by someone else (taken over only with
 * `spec.source.adoptExistingTopics`); partitions only grow; configuration drift is reverted.
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

/** What the topics part needs besides the topic admin. */
export interface TopicsDeps {
  admin: TopicAdmin;
  /** Writes the claim to the Pipeline's status; resolves once the API server stored it. */
  claim(status: PipelineStatus): Promise<void>;
  /**
   * The Pipeline as the API server holds it now. A reconcile that runs before the cache shows
   * a claim this operator wrote moments ago reads the claim there before it calls a topic
   * someone else's.
   */
  readLive(): Promise<PipelineObject | undefined>;
  log: Logger;
}

const claimedBy = (pipeline: PipelineObject | undefined) =>
  new Set((pipeline?.status?.topics ?? []).map((t) => t.name));

/** Converges the topics; fills `status.topics` and says how it went. */
export async function reconcileTopics(
  deps: TopicsDeps,
  pipeline: PipelineObject,
  topics: Map<TopicRole, TopicSpec>,
  status: PipelineStatus,
): Promise<ConditionUpdate> {
  const names = [...topics.values()].map((t) => t.name);
  let owned = claimedBy(pipeline);
  let current: Map<string, TopicState>;
  try {
    current = await deps.admin.describe(names);
    const foreign = () => [...topics].filter(([, t]) => current.has(t.name) && !owned.has(t.name));
    if (foreign().length && !pipeline.spec.source.adoptExistingTopics) owned = claimedBy(await deps.readLive());
    if (!pipeline.spec.source.adoptExistingTopics) {
      const [role, desired] = foreign()[0] ?? [];
      if (desired)
        return {
          type: 'TopicsReady',
          status: 'False',
          reason: Reason.ResourceConflict,
          message: `topic ${desired.name} (${role}) already exists and this Pipeline did not create it; set spec.source.adoptExistingTopics to take it over`,
        };
    }
    if (names.some((n) => !owned.has(n))) {
      const claim = [...topics].map(([role, t]) => ({
        role,
        name: t.name,
        partitions: current.get(t.name)?.partitions ?? 0,
      }));
      await deps.claim({ ...pipeline.status, topics: claim });
      // Kept in the status this reconcile ends with, should creating the topics fail.
      status.topics = claim;
    }
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
