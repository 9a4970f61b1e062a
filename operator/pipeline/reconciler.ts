/**
 * Reconciles a Pipeline: admits it against its tenant's quotas, gives it its Kafka topics
 * and its processor workload, reports where it stands, and on deletion keeps or deletes
 * its topics as the spec says.
 *
 * Level-triggered: every reconcile reads the Pipeline, its tenant, Region and workload from
 * the caches, converges, and writes what differs; nothing is remembered between reconciles.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { PipelineSpec, PipelineStatus } from '../../crds/pipeline.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import type { ChildApplier, ChildCache } from '../../lib/controller/child-applier.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import { errorSummary, Errors, hasCode, weirError } from '../../lib/errors/errors.ts';
import { summarize, type ConditionUpdate } from '../../lib/kube/conditions.ts';
import type { EventRecorder } from '../../lib/kube/event-recorder.ts';
import { addFinalizer, hasFinalizer } from '../../lib/kube/finalizers.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { controllerReference } from '../../lib/kube/owner-reference.ts';
import { applyStatusIfChanged } from '../../lib/kube/status.ts';
import { processorName } from '../../lib/platform/pipeline-names.ts';
import { TENANT_LABEL } from '../../lib/platform/tenant-names.ts';
import type { TenantObject } from '../tenant/reconciler.ts';
import { chooseRegion, type RegionObject } from '../tenant/region-backends.ts';
import { desiredTopics } from './desired-topics.ts';
import {
  desiredAutoscaler,
  desiredConfigMap,
  desiredDeployment,
  desiredDisruptionBudget,
  desiredService,
  type PipelineInput,
} from './desired-workloads.ts';
import type { TopicAdminSource } from './kafka-admins.ts';
import { finalizePipeline, PIPELINE_FINALIZER } from './pipeline-finalizer.ts';
import { quotaProblem } from './pipeline-quota.ts';
import { schemaPart } from './pipeline-schema.ts';
import { nextStatus, Reason } from './pipeline-status.ts';
import { reconcileTopics } from './pipeline-topics.ts';
import { claimName, claimOf, desiredClaim } from './topic-claims.ts';
import { flinkWorkloadCondition, withoutFlinkParts, withoutFlinkStatus } from '../flink/flink-workload.ts';

export { PIPELINE_FINALIZER } from './pipeline-finalizer.ts';

/** A Pipeline as stored. */
export interface PipelineObject extends KubernetesObject {
  spec: PipelineSpec;
  status?: PipelineStatus;
}

export interface PipelineReconcilerOptions {
  client: KubeClient;
  pipelines: { get(key: string): PipelineObject | undefined; list(): PipelineObject[] };
  tenants: { get(key: string): TenantObject | undefined };
  regions: { list(): RegionObject[] };
  children: ChildCache;
  childApplier: ChildApplier;
  kafka: TopicAdminSource;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  processorImage: string;
  finalizerTimeoutMs: number;
  /** Where the records of topic ownership live (see topic-claims.ts). */
  platformNamespace: string;
}

export class PipelineReconciler implements Reconciler {
  #o: PipelineReconcilerOptions;

  constructor(options: PipelineReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest, signal?: AbortSignal): Promise<ReconcileResult | void> {
    const pipeline = this.#o.pipelines.get(request.key);
    if (!pipeline) return;
    const tenant = this.#tenantOf(pipeline.metadata!.namespace!);
    const region = tenant
      ? chooseRegion(this.#o.regions.list(), tenant.spec.regions, tenant.status?.region).region
      : undefined;
    if (pipeline.metadata?.deletionTimestamp) return finalizePipeline(this.#o, pipeline, region);
    try {
      return await this.#converge(pipeline, tenant, region, signal);
    } catch (err) {
      // A pipeline found not ready has said why in its status already.
      if (hasCode(err, Errors.NotReady)) throw err;
      const failed = {
        type: 'Ready',
        status: 'False',
        reason: Reason.ReconcileFailed,
        message: errorSummary(err),
      } as const;
      await this.#writeStatus(pipeline, { ...pipeline.status }, [failed]).catch(() => undefined);
      throw err;
    }
  }

  /** The tenant that owns a namespace: the one its label names, as the Tenant controller wrote it. */
  #tenantOf(namespace: string): TenantObject | undefined {
    const owner = this.#o.children.get('Namespace', '', namespace)?.metadata?.labels?.[TENANT_LABEL];
    return owner ? this.#o.tenants.get(owner) : undefined;
  }

  async #converge(
    pipeline: PipelineObject,
    tenant: TenantObject | undefined,
    region: RegionObject | undefined,
    signal?: AbortSignal,
  ): Promise<ReconcileResult | void> {
    const namespace = pipeline.metadata!.namespace!;
    const name = pipeline.metadata!.name!;
    if (!tenant)
      return this.#stop(pipeline, Reason.TenantNotFound, `no Tenant owns namespace ${namespace}`, {
        requeueAfterMs: 30_000,
      });
    const ofNamespace = this.#o.pipelines.list().filter((p) => p.metadata?.namespace === namespace);
    const quota = quotaProblem(pipeline, { name: tenant.metadata!.name!, spec: tenant.spec }, ofNamespace);
    if (quota) return this.#stop(pipeline, Reason.QuotaExceeded, quota);
    if (!region)
      return this.#stop(pipeline, Reason.TenantNotFound, `tenant ${tenant.metadata!.name} has no Region`, {
        requeueAfterMs: 30_000,
      });

    if (!hasFinalizer(pipeline, PIPELINE_FINALIZER))
      await addFinalizer(this.#o.client, this.#ref(pipeline), PIPELINE_FINALIZER);
    const topics = desiredTopics(namespace, name, pipeline.spec);
    const status: PipelineStatus = { ...pipeline.status };
    const schemaPartOf = await schemaPart(this.#o.client, pipeline, signal);
    const [topicsPart, workloadPart] = await Promise.all([
      reconcileTopics(
        {
          admin: this.#o.kafka.forRegion(region),
          // Read from the API server: the child cache keeps only the metadata of what it holds.
          readClaim: async () =>
            claimOf(
              await this.#o.client.read({
                apiVersion: 'v1',
                kind: 'ConfigMap',
                metadata: { namespace: this.#o.platformNamespace, name: claimName(namespace, name) },
              }),
            ),
          writeClaim: async (claim) =>
            void (await this.#o.childApplier.apply(
              desiredClaim(this.#o.platformNamespace, namespace, name, claim),
              signal,
            )),
          recordName: `${this.#o.platformNamespace}/${claimName(namespace, name)}`,
          tenant: tenant.metadata!.name!,
          log: this.#o.log.child({ key: `${namespace}/${name}` }),
        },
        pipeline,
        topics,
        status,
      ),
      schemaPartOf.status !== 'True'
        ? ({
            type: 'WorkloadReady',
            status: 'False',
            reason: schemaPartOf.reason,
            message: 'the pipeline does not start with a schema that does not compile',
          } as const)
        : pipeline.spec.engine === 'Flink'
          ? flinkWorkloadCondition(pipeline.status)
          : this.#workloads(pipeline, region, tenant!, topics, status, signal),
    ]);
    const paused = pipeline.spec.lifecycle.desiredPhase === 'Paused';
    const ready = summarize(
      [schemaPartOf, topicsPart, workloadPart],
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
    await this.#writeStatus(pipeline, { ...status, phase }, [schemaPartOf, topicsPart, workloadPart, ready]);
    // Kafka coming back, or a leader moving, is not something the controller watches: retry with backoff.
    if (topicsPart.reason === Reason.KafkaUnreachable || topicsPart.reason === Reason.KafkaBusy)
      throw weirError(Errors.NotReady, topicsPart.message);
    // A processor not yet available needs no timer: its Deployment's status updates, which
    // the controller watches, bring the pipeline back when that changes.
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

  async #workloads(
    pipeline: PipelineObject,
    region: RegionObject,
    tenant: TenantObject,
    topics: PipelineInput['topics'],
    status: PipelineStatus,
    signal?: AbortSignal,
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
      // Only a SCRAM user is the tenant's own (see operator/pipeline/kafka-admins.ts).
      kafkaSasl: region.spec.kafka.sasl?.mechanism.startsWith('SCRAM')
        ? { mechanism: region.spec.kafka.sasl.mechanism as 'SCRAM-SHA-256' | 'SCRAM-SHA-512' }
        : undefined,
      kafkaTls: region.spec.kafka.tls !== undefined,
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
      await Promise.all(objects.map((obj) => this.#o.childApplier.apply(obj, signal)));
      if (paused && this.#o.children.get('HorizontalPodAutoscaler', namespace, processorName(name)))
        await this.#o.client.delete({
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
    const { next, event } = nextStatus(pipeline, status, updates, this.#o.clock.now());
    // The Flink controller writes status.flink and its conditions itself.
    if (!(await applyStatusIfChanged(this.#o.client, withoutFlinkParts(pipeline), withoutFlinkStatus(next)))) return;
    if (event) void this.#o.events.record(pipeline, event.type, event.reason, event.message);
  }

  #ref(pipeline: PipelineObject) {
    return {
      apiVersion: pipeline.apiVersion!,
      kind: pipeline.kind!,
      metadata: { name: pipeline.metadata!.name!, namespace: pipeline.metadata!.namespace! },
    };
  }
}
