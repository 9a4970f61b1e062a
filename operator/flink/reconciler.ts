/**
 * Reconciles the Flink job of a Pipeline with engine Flink: observes the pipeline's jobs on
 * its Region's Flink, lets {@link planJob} decide, carries the decision out through the
 * JobManager and SQL Gateway, and writes status.flink and its own conditions. Deleting the
 * Pipeline (or moving it off engine Flink) cancels its job; Flink being unreachable shows as
 * FlinkUnreachable and is retried with backoff until it heals.
 */
import type { Logger } from 'pino';
import { API_VERSION } from '../../crds/kind-definition.ts';
import { pipelineDefinition } from '../../crds/pipeline.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import { errorSummary, Errors, hasCode } from '../../lib/errors/errors.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../lib/kube/finalizers.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { isTrue, setCondition, type Condition, type ConditionUpdate } from '../../lib/kube/conditions.ts';
import type { EventRecorder } from '../../lib/kube/event-recorder.ts';
import type { JobManagerClient } from '../../lib/flink/job-manager-client.ts';
import type { SqlGatewayClient } from '../../lib/flink/sql-gateway-client.ts';
import { sameJson } from '../../lib/kube/same-json.ts';
import { topicName } from '../../lib/platform/pipeline-names.ts';
import { CREDENTIALS_SECRET, RELEASE_ANNOTATION, tenantNamespace } from '../../lib/platform/tenant-names.ts';
import type { PipelineObject } from '../pipeline/reconciler.ts';
import type { TenantObject } from '../tenant/reconciler.ts';
import { chooseRegion, type RegionObject } from '../tenant/region-backends.ts';
import type { FlinkClients } from './flink-clients.ts';
import { translatePipeline, type FlinkJob, type FlinkJobInput } from './flink-sql.ts';
import { FLINK_CONDITIONS, observeJobs } from './job-observation.ts';
import {
  DISCARD_STATE_ANNOTATION,
  FLINK_FINALIZER,
  FlinkReason,
  JOB_CONDITION,
  planJob,
  SAVEPOINT_ANNOTATION,
  type FlinkStatus,
  type JobPlan,
} from './job-plan.ts';
import { submitJob } from './job-submitter.ts';

export interface FlinkReconcilerOptions {
  /** Writes with a field manager of its own, so status.flink, its conditions and its finalizer are this controller's. */
  client: KubeClient;
  pipelines: { get(key: string): PipelineObject | undefined };
  tenants: { list(): TenantObject[] };
  regions: { list(): RegionObject[] };
  clients: FlinkClients;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  finalizerTimeoutMs: number;
}

export class FlinkReconciler implements Reconciler {
  #o: FlinkReconcilerOptions;

  constructor(options: FlinkReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest): Promise<ReconcileResult | void> {
    const pipeline = this.#o.pipelines.get(request.key);
    if (!pipeline) return;
    const meta = pipeline.metadata!;
    const mine = hasFinalizer(pipeline, FLINK_FINALIZER);
    if (pipeline.spec.engine !== 'Flink' && !mine) return;
    const tenant = this.#o.tenants.list().find((t) => tenantNamespace(t.metadata!.name!, t.spec) === meta.namespace);
    const region = tenant
      ? chooseRegion(this.#o.regions.list(), tenant.spec.regions, tenant.status?.region).region
      : undefined;
    const flinkSpec = region?.spec.flink;
    if (meta.deletionTimestamp || pipeline.spec.engine !== 'Flink') return this.#release(pipeline, region);
    if (!flinkSpec)
      return this.#write(pipeline, pipeline.status?.flink ?? {}, [
        {
          type: JOB_CONDITION,
          status: 'False',
          reason: FlinkReason.NoFlinkCluster,
          message: region ? `region ${region.metadata?.name} has no spec.flink` : 'the pipeline has no Region yet',
        },
      ]);
    if (!mine) await addFinalizer(this.#o.client, this.#ref(pipeline), FLINK_FINALIZER);

    const { jobManager, gateway } = this.#o.clients.forRegion(region!);
    const kafkaSecurity = await this.#kafkaSecurity(region!, meta.namespace!);
    if (typeof kafkaSecurity === 'string')
      return this.#write(pipeline, pipeline.status?.flink ?? {}, [
        { type: JOB_CONDITION, status: 'False', reason: FlinkReason.NoKafkaCredentials, message: kafkaSecurity },
      ]);
    const translation = translatePipeline({
      namespace: meta.namespace!,
      name: meta.name!,
      spec: pipeline.spec,
      topics: {
        input: topicName(meta.namespace!, meta.name!, 'Input'),
        output: topicName(meta.namespace!, meta.name!, 'Output'),
        deadLetter: topicName(meta.namespace!, meta.name!, 'DeadLetter'),
      },
      bootstrapServers: region!.spec.kafka.bootstrapServers,
      kafkaSecurity,
    });
    let next: JobPlan;
    try {
      const observed = await observeJobs(jobManager, meta.namespace!, meta.name!, pipeline.status?.flink ?? {});
      next = planJob({
        uid: meta.uid ?? '',
        desiredPhase: pipeline.spec.lifecycle.desiredPhase,
        topicsReady: isTrue(pipeline.status?.conditions, 'TopicsReady'),
        translation,
        flink: pipeline.status?.flink ?? {},
        savepointAnnotation: meta.annotations?.[SAVEPOINT_ANNOTATION],
        discardState: meta.annotations?.[DISCARD_STATE_ANNOTATION] === 'true',
        ...observed,
      });
      await this.#act(
        next,
        translation.ok ? translation.job : undefined,
        flinkSpec.savepointDirectory,
        jobManager,
        gateway,
      );
    } catch (err) {
      if (!hasCode(err, Errors.FlinkUnavailable) && !hasCode(err, Errors.FlinkStatementFailed)) throw err;
      const unreachable = hasCode(err, Errors.FlinkUnavailable);
      await this.#write(pipeline, pipeline.status?.flink ?? {}, [
        {
          type: JOB_CONDITION,
          status: 'False',
          reason: unreachable ? FlinkReason.FlinkUnreachable : FlinkReason.SubmitFailed,
          message: `Flink: ${errorSummary(err)}`,
        },
      ]);
      // Unreachable heals by itself with the controller's backoff; a refused statement waits for a new spec.
      if (unreachable) throw err;
      return;
    }
    await this.#write(pipeline, next.flink, next.conditions);
    return next.requeueAfterMs > 0 ? { requeueAfterMs: next.requeueAfterMs } : undefined;
  }

  async #act(
    plan: JobPlan,
    job: FlinkJob | undefined,
    targetDirectory: string | undefined,
    jobManager: JobManagerClient,
    gateway: SqlGatewayClient,
  ): Promise<void> {
    const action = plan.action;
    if (action.kind === 'Submit' && job) {
      plan.flink.jobId = await submitJob(gateway, job, { savepoint: action.savepoint });
      this.#o.log.info(
        { job: job.name, jobId: plan.flink.jobId, savepoint: action.savepoint },
        'submitted the Flink job',
      );
    } else if (action.kind === 'StopWithSavepoint') {
      await jobManager.stopWithSavepoint(action.jobId, { targetDirectory, triggerId: action.triggerId });
    } else if (action.kind === 'TriggerSavepoint') {
      await jobManager.triggerSavepoint(action.jobId, { targetDirectory, triggerId: action.triggerId });
    } else if (action.kind === 'Cancel') {
      await jobManager.cancel(action.jobId);
      this.#o.log.info({ jobId: action.jobId }, 'cancelled a Flink job that cannot take a savepoint, to replace it');
    }
  }

  /** Cancels the pipeline's jobs and lets the Pipeline go, within the finalizer timeout. */
  async #release(pipeline: PipelineObject, region: RegionObject | undefined): Promise<void> {
    const meta = pipeline.metadata!;
    if (!meta.finalizers?.includes(FLINK_FINALIZER)) return;
    const released = meta.annotations?.[RELEASE_ANNOTATION] === 'true';
    const overdue =
      meta.deletionTimestamp !== undefined &&
      this.#o.clock.now() - new Date(meta.deletionTimestamp).getTime() > this.#o.finalizerTimeoutMs;
    if (region?.spec.flink && !released && !overdue) {
      const { jobManager } = this.#o.clients.forRegion(region);
      try {
        const { live } = await observeJobs(jobManager, meta.namespace!, meta.name!, {});
        if (live) await jobManager.cancel(live.id);
        this.#o.log.info({ key: `${meta.namespace}/${meta.name}`, jobId: live?.id }, 'cancelled the Flink job');
      } catch (err) {
        const message = `cancelling the Flink job failed: ${errorSummary(err)}; retrying (annotate ${RELEASE_ANNOTATION}=true to let go)`;
        await this.#write(pipeline, pipeline.status?.flink ?? {}, [
          { type: JOB_CONDITION, status: 'False', reason: FlinkReason.CleanupFailed, message },
        ]).catch(() => undefined);
        throw err;
      }
    }
    await removeFinalizer(this.#o.client, pipeline, FLINK_FINALIZER);
  }

  /** Applies status.flink and this controller's conditions, if they changed. */
  /**
   * How the job's Kafka clients connect: as the tenant's own SCRAM user (from its
   * credentials Secret) where the Region's Kafka takes SASL, so that Kafka's ACLs confine
   * Flink jobs as they confine processors; or a message saying why they cannot yet.
   */
  async #kafkaSecurity(region: RegionObject, namespace: string): Promise<FlinkJobInput['kafkaSecurity'] | string> {
    const { sasl, tls } = region.spec.kafka;
    if (tls?.caSecretRef)
      return `Region ${region.metadata?.name}: kafka.tls.caSecretRef is not supported by engine Flink yet, whose jobs verify brokers against the system roots; use engine Native`;
    if (!sasl) return tls ? { tls: true } : undefined;
    if (sasl.mechanism === 'PLAIN')
      return `Region ${region.metadata?.name}: kafka.sasl.mechanism PLAIN has no tenant users; engine Flink connects as the tenant's SCRAM user`;
    const secret = (await this.#o.client.read({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { namespace, name: CREDENTIALS_SECRET },
    })) as { data?: Record<string, string> } | undefined;
    const value = (key: string) => {
      const b64 = secret?.data?.[key];
      return b64 ? Buffer.from(b64, 'base64').toString('utf8') : '';
    };
    const username = value('kafka-username');
    const password = value('kafka-password');
    if (!username || !password)
      return `the tenant's Kafka user is not in ${namespace}/${CREDENTIALS_SECRET} yet; waiting for the Tenant to be Ready`;
    return { sasl: { mechanism: sasl.mechanism, username, password }, ...(tls ? { tls: true } : {}) };
  }

  async #write(pipeline: PipelineObject, flink: FlinkStatus, updates: ConditionUpdate[]): Promise<void> {
    const generation = pipeline.metadata?.generation ?? 0;
    const now = new Date(this.#o.clock.now());
    const current = pipeline.status?.conditions?.filter((c) => FLINK_CONDITIONS.includes(c.type));
    let conditions: Condition[] | undefined = current;
    for (const update of updates) conditions = setCondition(conditions, update, generation, now);
    if (sameJson(flink, pipeline.status?.flink) && sameJson(conditions, current)) return;
    const before = current?.find((c) => c.type === JOB_CONDITION);
    const after = conditions?.find((c) => c.type === JOB_CONDITION);
    if (after && (before?.reason !== after.reason || before?.status !== after.status)) {
      this.#o.log.info(
        {
          key: `${pipeline.metadata!.namespace}/${pipeline.metadata!.name}`,
          reason: after.reason,
          message: after.message,
        },
        'Flink job condition changed',
      );
      void this.#o.events.record(
        pipeline,
        after.status === 'True' ? 'Normal' : 'Warning',
        after.reason ?? 'Changed',
        after.message ?? '',
      );
    }
    await this.#o.client.apply({ ...this.#ref(pipeline), status: { flink, conditions } }, { subresource: 'status' });
  }

  #ref(pipeline: PipelineObject) {
    return {
      apiVersion: API_VERSION,
      kind: pipelineDefinition.kind,
      metadata: { name: pipeline.metadata!.name!, namespace: pipeline.metadata!.namespace! },
    };
  }
}
