/**
 * Reconciles a Pipeline: admits it against its tenant's quotas, gives it its Kafka topics
 * (partitions only grow, drift is reverted, existing topics are adopted only on opt-in)
 * and its processor workload, reports where it stands, and on deletion keeps or deletes
 * its topics as the spec says.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION } from '../../crds/kind-definition.ts';
import { pipelineDefinition, type PipelineSpec, type PipelineStatus } from '../../crds/pipeline.ts';
import { BatchingTopicAdmin } from '../../lib/kafka/batching-topic-admin.ts';
import { PlatformaticTopicAdmin } from '../../lib/kafka/platformatic-topic-admin.ts';
import { planTopicChanges, type TopicAdmin, type TopicState } from '../../lib/kafka/topic-admin.ts';
import { controllerReference, type Applier } from '../../lib/kube/apply.ts';
import type { ChildApplier } from '../../lib/controller/child-applier.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { setCondition, summarize, type Condition, type ConditionUpdate } from '../../lib/kube/conditions.ts';
import { errorSummary, Errors, hasCode } from '../../lib/errors/errors.ts';
import type { EventRecorder } from '../../lib/kube/event-recorder.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import { sameJson } from '../../lib/kube/same-json.ts';
import { WrittenObjects } from '../../lib/controller/written-objects.ts';
import type { TenantObject } from '../tenant/reconciler.ts';
import { chooseRegion, type RegionObject } from '../tenant/region-backends.ts';
import { RELEASE_ANNOTATION, tenantNamespace } from '../../lib/platform/tenant-names.ts';
import { desiredTopics, partitionsUsed } from './desired-topics.ts';
import {
  desiredAutoscaler,
  desiredConfigMap,
  desiredDeployment,
  desiredDisruptionBudget,
  desiredService,
  type PipelineInput,
} from './desired-workloads.ts';
import { processorName, type TopicRole } from '../../lib/platform/pipeline-names.ts';

/** A Pipeline as stored. */
export interface PipelineObject extends KubernetesObject {
  spec: PipelineSpec;
  status?: PipelineStatus;
}

/** Finalizer that holds a Pipeline until its topics are deleted (policy Delete) or let go (Retain). */
export const PIPELINE_FINALIZER = 'weir.dev/pipeline-topics';

export const Reason = {
  Ready: 'Ready',
  Created: 'Created',
  TenantNotFound: 'TenantNotFound',
  QuotaExceeded: 'QuotaExceeded',
  KafkaUnreachable: 'KafkaUnreachable',
  ResourceConflict: 'ResourceConflict',
  Paused: 'Paused',
  ReplicasUnavailable: 'ReplicasUnavailable',
  ApplyFailed: 'ApplyFailed',
  CleanupFailed: 'CleanupFailed',
} as const;

/** Kafka admin clients per Region. */
export class KafkaAdmins {
  #admins = new Map<string, { brokers: string; admin: TopicAdmin }>();
  #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  forRegion(region: RegionObject): TopicAdmin {
    const name = region.metadata?.name ?? '';
    const brokers = region.spec.kafka.bootstrapServers.join(',');
    const cached = this.#admins.get(name);
    if (cached?.brokers === brokers) return cached.admin;
    void cached?.admin.close();
    // Reconciles running at once share one describe and one create request. The
    // @platformatic/kafka adapter speaks current protocol versions, so it reports topic ids.
    const admin = new BatchingTopicAdmin(
      new PlatformaticTopicAdmin({
        brokers: region.spec.kafka.bootstrapServers,
        clientId: 'weir-operator',
        log: this.#log,
      }),
    );
    this.#admins.set(name, { brokers, admin });
    return admin;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#admins.values()].map((a) => a.admin.close()));
  }
}

export interface PipelineReconcilerOptions {
  applier: Applier;
  pipelines: { get(key: string): PipelineObject | undefined; list(): PipelineObject[] };
  tenants: { list(): TenantObject[] };
  regions: { list(): RegionObject[] };
  children: {
    get(kind: string, namespace: string, name: string): KubernetesObject | undefined;
    remember(obj: KubernetesObject): void;
  };
  /** Writes the workload objects unless they are unchanged. */
  childApplier: ChildApplier;
  kafka: KafkaAdmins;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  processorImage: string;
  finalizerTimeoutMs: number;
}

function creationOrder(a: PipelineObject, b: PipelineObject): number {
  const ta = String(a.metadata?.creationTimestamp ?? '');
  const tb = String(b.metadata?.creationTimestamp ?? '');
  return ta === tb ? (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '') : ta.localeCompare(tb);
}

export class PipelineReconciler implements Reconciler {
  #o: PipelineReconcilerOptions;
  /** What this operator last wrote to each Pipeline, for reconciles that run before the cache catches up. */
  #written = new WrittenObjects<PipelineObject, PipelineStatus>(PIPELINE_FINALIZER);

  constructor(options: PipelineReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest): Promise<ReconcileResult | void> {
    const cached = this.#o.pipelines.get(request.key);
    if (!cached) return;
    const pipeline = this.#written.freshest(cached);
    const namespace = pipeline.metadata!.namespace!;
    const name = pipeline.metadata!.name!;
    const tenant = this.#o.tenants.list().find((t) => tenantNamespace(t.metadata!.name!, t.spec) === namespace);
    const region = tenant ? chooseRegion(this.#o.regions.list(), tenant.spec.regions) : undefined;
    if (pipeline.metadata?.deletionTimestamp) return this.#finalize(pipeline, region);

    if (!tenant)
      return this.#stop(pipeline, Reason.TenantNotFound, `no Tenant owns namespace ${namespace}`, {
        requeueAfterMs: 30_000,
      });
    const quota = this.#quotaProblem(pipeline, tenant);
    if (quota) return this.#stop(pipeline, Reason.QuotaExceeded, quota);
    if (!region)
      return this.#stop(pipeline, Reason.TenantNotFound, `tenant ${tenant.metadata!.name} has no Region`, {
        requeueAfterMs: 30_000,
      });

    if (!pipeline.metadata?.finalizers?.includes(PIPELINE_FINALIZER)) {
      this.#written.note(pipeline, await this.#o.applier.addFinalizer(this.#ref(pipeline), PIPELINE_FINALIZER), {
        finalizer: true,
      });
    }

    const topics = desiredTopics(namespace, name, pipeline.spec);
    const status: PipelineStatus = { ...pipeline.status };
    const [topicsPart, workloadPart] = await Promise.all([
      this.#topics(pipeline, this.#o.kafka.forRegion(region), topics, status),
      this.#workloads(pipeline, region, tenant, topics, status),
    ]);
    const paused = pipeline.spec.lifecycle.desiredPhase === 'Paused';
    const ready = summarize(
      [topicsPart, workloadPart],
      Reason.Ready,
      paused ? 'paused: topics kept, processor scaled to zero' : 'topics and processor are ready',
    );
    const phase =
      ready.status === 'True'
        ? paused
          ? 'Paused'
          : 'Running'
        : topicsPart.status === 'True'
          ? paused
            ? 'Paused'
            : 'Provisioning'
          : 'Degraded';
    await this.#writeStatus(pipeline, { ...status, phase }, [topicsPart, workloadPart, ready]);
    if (topicsPart.reason === Reason.KafkaUnreachable) throw new Error(topicsPart.message);
    // A processor not yet available needs no second look on a timer: its Deployment's status
    // updates, which the controller watches, bring the pipeline back when that changes.
    // Polling every such pipeline every 10 s, with a Kafka describe each time, slowed 500
    // new pipelines whose pods could not be scheduled.
  }

  /** Why the tenant's quotas leave no room for this pipeline, or undefined if they do. */
  #quotaProblem(pipeline: PipelineObject, tenant: TenantObject): string | undefined {
    const namespace = pipeline.metadata!.namespace!;
    const all = this.#o.pipelines
      .list()
      .filter((p) => p.metadata?.namespace === namespace && !p.metadata?.deletionTimestamp)
      .sort(creationOrder);
    let partitions = 0;
    for (const [index, p] of all.entries()) {
      partitions += partitionsUsed(p.spec);
      if (p.metadata?.name !== pipeline.metadata?.name) continue;
      if (index >= tenant.spec.quotas.pipelines)
        return `tenant ${tenant.metadata!.name} may have ${tenant.spec.quotas.pipelines} pipelines; this is number ${index + 1}`;
      if (partitions > tenant.spec.quotas.partitions)
        return `tenant ${tenant.metadata!.name} may have ${tenant.spec.quotas.partitions} partitions; with this pipeline's ${partitionsUsed(p.spec)} it would have ${partitions}`;
      return undefined;
    }
    return undefined;
  }

  /** Reports a reason that keeps the pipeline from being provisioned; nothing is created. */
  async #stop(
    pipeline: PipelineObject,
    reason: string,
    message: string,
    result?: ReconcileResult,
  ): Promise<ReconcileResult | void> {
    const update: ConditionUpdate = { type: 'TopicsReady', status: 'False', reason, message };
    await this.#writeStatus(pipeline, { ...pipeline.status, phase: 'Pending' }, [update, { ...update, type: 'Ready' }]);
    return result;
  }

  async #topics(
    pipeline: PipelineObject,
    admin: TopicAdmin,
    topics: Map<
      TopicRole,
      { name: string; partitions: number; replicationFactor: number; config: Record<string, string> }
    >,
    status: PipelineStatus,
  ): Promise<ConditionUpdate> {
    // Topics are claimed in the status before they are created, so a topic that exists
    // without a claim was made by someone else. A reconcile that runs before the cache shows
    // the claim gets it from what this operator wrote (WrittenObjects).
    const owned = new Set((pipeline.status?.topics ?? []).map((t) => t.name));
    let current: Map<string, TopicState>;
    try {
      current = await admin.describe([...topics.values()].map((t) => t.name));
      for (const [role, desired] of topics) {
        const existing = current.get(desired.name);
        if (existing && !owned.has(desired.name) && !pipeline.spec.source.adoptExistingTopics) {
          return {
            type: 'TopicsReady',
            status: 'False',
            reason: Reason.ResourceConflict,
            message: `topic ${desired.name} (${role}) already exists and this Pipeline did not create it; set spec.source.adoptExistingTopics to take it over`,
          };
        }
      }
      const unclaimed = [...topics].filter(([, t]) => !owned.has(t.name));
      if (unclaimed.length) {
        const claim = [...topics].map(([role, t]) => ({
          role,
          name: t.name,
          partitions: current.get(t.name)?.partitions ?? 0,
        }));
        const claimed = { ...pipeline.status, topics: claim };
        this.#written.note(pipeline, await this.#o.applier.applyStatus({ ...this.#ref(pipeline), status: claimed }), {
          status: claimed,
        });
        // Kept in the status this reconcile ends with, should creating the topics fail.
        status.topics = claim;
      }
      const toCreate = [];
      let changed = false;
      for (const [, desired] of topics) {
        const existing = current.get(desired.name);
        const plan = planTopicChanges(desired, existing);
        if (plan.action === 'unsupported')
          return { type: 'TopicsReady', status: 'False', reason: plan.reason, message: plan.message };
        if (plan.action === 'create') toCreate.push(desired);
        if (plan.action === 'update') {
          changed = true;
          if (plan.increasePartitionsTo !== undefined)
            await admin.increasePartitions(desired.name, plan.increasePartitionsTo);
          if (plan.setConfig) {
            await admin.alterConfig(desired.name, plan.setConfig);
            this.#o.log.info(
              {
                key: `${pipeline.metadata!.namespace}/${pipeline.metadata!.name}`,
                topic: desired.name,
                config: plan.setConfig,
              },
              'reverted topic configuration drift',
            );
          }
        }
      }
      // One request creates every missing topic of the pipeline.
      if (toCreate.length) await admin.create(toCreate);
      // Only what was just created or changed needs describing again.
      if (toCreate.length || changed) current = await admin.describe([...topics.values()].map((t) => t.name));
    } catch (err) {
      const unreachable = hasCode(err, Errors.KafkaUnavailable);
      return {
        type: 'TopicsReady',
        status: 'False',
        reason: unreachable ? Reason.KafkaUnreachable : Reason.ApplyFailed,
        message: `Kafka: ${errorSummary(err)}`,
      };
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

  async #workloads(
    pipeline: PipelineObject,
    region: RegionObject,
    tenant: TenantObject,
    topics: Map<
      TopicRole,
      { name: string; partitions: number; replicationFactor: number; config: Record<string, string> }
    >,
    status: PipelineStatus,
  ): Promise<ConditionUpdate> {
    const namespace = pipeline.metadata!.namespace!;
    const name = pipeline.metadata!.name!;
    const input: PipelineInput = {
      namespace,
      name,
      spec: pipeline.spec,
      ownerReference: controllerReference(pipeline),
      topics,
      image: this.#o.processorImage,
      kafkaBootstrapServers: region.spec.kafka.bootstrapServers,
      tenant: { name: tenant.metadata!.name!, piiFields: tenant.spec.dataPolicy?.piiFields ?? [] },
    };
    const paused = pipeline.spec.lifecycle.desiredPhase === 'Paused';
    const deployment = this.#o.children.get('Deployment', namespace, processorName(name)) as
      (KubernetesObject & { spec?: { replicas?: number }; status?: { availableReplicas?: number } }) | undefined;
    // Running leaves replicas to the autoscaler, which holds them within min and max, except
    // when coming back from zero (an autoscaler does not scale up from zero). A new
    // Deployment starts with the API server's default of one.
    const replicas = paused ? 0 : deployment?.spec?.replicas === 0 ? pipeline.spec.scaling.minReplicas : undefined;
    try {
      const objects: KubernetesObject[] = [
        desiredConfigMap(input),
        desiredDeployment(input, replicas),
        desiredService(input),
        desiredDisruptionBudget(input),
      ];
      if (!paused) objects.push(desiredAutoscaler(input));
      await Promise.all(objects.map((obj) => this.#o.childApplier.apply(obj)));
      if (paused)
        await this.#o.applier.delete({
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: processorName(name), namespace },
        });
    } catch (err) {
      return {
        type: 'WorkloadReady',
        status: 'False',
        reason: Reason.ApplyFailed,
        message: `applying the processor failed: ${errorSummary(err)}`,
      };
    }
    const available = deployment?.status?.availableReplicas ?? 0;
    status.replicas = available;
    status.endpoints = {
      rest: pipeline.spec.source.ingestion.rest ? `/v1/pipelines/${namespace}/${name}/events` : undefined,
      webSocket: pipeline.spec.source.ingestion.webSocket ? `/v1/pipelines/${namespace}/${name}/stream` : undefined,
      grpc: pipeline.spec.source.ingestion.grpc ? `weir.v1.Ingest/Stream?pipeline=${namespace}/${name}` : undefined,
    };
    if (paused)
      return { type: 'WorkloadReady', status: 'True', reason: Reason.Paused, message: 'processor scaled to zero' };
    if (available >= pipeline.spec.scaling.minReplicas)
      return {
        type: 'WorkloadReady',
        status: 'True',
        reason: Reason.Created,
        message: `${available} processor replicas available`,
      };
    return {
      type: 'WorkloadReady',
      status: 'False',
      reason: Reason.ReplicasUnavailable,
      message: `${available} of ${pipeline.spec.scaling.minReplicas} processor replicas available`,
    };
  }

  async #writeStatus(pipeline: PipelineObject, status: PipelineStatus, updates: ConditionUpdate[]): Promise<void> {
    const generation = pipeline.metadata?.generation ?? 0;
    const now = new Date(this.#o.clock.now());
    let conditions: Condition[] | undefined = pipeline.status?.conditions;
    for (const update of updates) conditions = setCondition(conditions, update, generation, now);
    const next: PipelineStatus = { ...status, observedGeneration: generation, conditions };
    if (sameJson(next, pipeline.status)) return;
    const before = pipeline.status?.conditions?.find((c) => c.type === 'Ready');
    const after = conditions?.find((c) => c.type === 'Ready');
    // A new pipeline waiting for its processor is progress, not news: say nothing until it
    // is Ready, something is wrong, or Ready is lost.
    const progressing = after?.reason === Reason.ReplicasUnavailable && before?.status !== 'True';
    if (after && !progressing && (before?.reason !== after.reason || before?.status !== after.status)) {
      void this.#o.events.record(
        pipeline,
        after.status === 'True' ? 'Normal' : 'Warning',
        after.reason ?? 'Changed',
        after.message ?? '',
      );
    }
    this.#written.note(pipeline, await this.#o.applier.applyStatus({ ...this.#ref(pipeline), status: next }), {
      status: next,
    });
  }

  #ref(pipeline: PipelineObject) {
    return {
      apiVersion: API_VERSION,
      kind: pipelineDefinition.kind,
      metadata: { name: pipeline.metadata!.name!, namespace: pipeline.metadata!.namespace! },
    };
  }

  /** Deletes the topics under policy Delete, then lets the Pipeline go; the workload goes with its owner. */
  async #finalize(pipeline: PipelineObject, region: RegionObject | undefined): Promise<void> {
    if (!pipeline.metadata?.finalizers?.includes(PIPELINE_FINALIZER)) return;
    const released = pipeline.metadata.annotations?.[RELEASE_ANNOTATION] === 'true';
    const overdue =
      this.#o.clock.now() - new Date(pipeline.metadata.deletionTimestamp!).getTime() > this.#o.finalizerTimeoutMs;
    const owned = (pipeline.status?.topics ?? []).map((t) => t.name);
    if (pipeline.spec.lifecycle.topicDeletionPolicy === 'Delete' && owned.length && !released && !overdue && region) {
      try {
        await this.#o.kafka.forRegion(region).deleteTopics(owned);
      } catch (err) {
        const message = `deleting topics failed: ${errorSummary(err)}; retrying (annotate ${RELEASE_ANNOTATION}=true to let go)`;
        await this.#writeStatus(pipeline, { ...pipeline.status, phase: 'Terminating' }, [
          { type: 'Ready', status: 'False', reason: Reason.CleanupFailed, message },
        ]).catch(() => undefined);
        throw new Error(message);
      }
    }
    await this.#o.applier.removeFinalizer({ ...this.#ref(pipeline), metadata: pipeline.metadata }, PIPELINE_FINALIZER);
    this.#written.forget(pipeline);
    this.#o.log.info(
      {
        key: `${pipeline.metadata.namespace}/${pipeline.metadata.name}`,
        policy: pipeline.spec.lifecycle.topicDeletionPolicy,
        topics: owned,
      },
      'pipeline finalized',
    );
  }
}
