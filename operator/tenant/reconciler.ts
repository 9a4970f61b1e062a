/**
 * Reconciles a Tenant: its namespace, quotas, network policies, owner RBAC, Redis ACL
 * user and Postgres role and schema, and the Secret with the generated credentials; a
 * finalizer removes the backend users when the Tenant goes.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type KubernetesObject, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION } from '../../crds/kind-definition.ts';
import { tenantDefinition, type TenantSpec, type TenantStatus } from '../../crds/tenant.ts';
import { controllerReference, statusCode, type Applier } from '../../lib/kube/apply.ts';
import { hashOf, type ChildApplier } from '../../lib/controller/child-applier.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { setCondition, summarize, type Condition, type ConditionUpdate } from '../../lib/kube/conditions.ts';
import { errorSummary, Errors, hasCode } from '../../lib/errors/errors.ts';
import type { EventRecorder } from '../../lib/kube/event-recorder.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import { sameJson } from '../../lib/kube/same-json.ts';
import { WrittenObjects } from '../../lib/controller/written-objects.ts';
import {
  desiredCredentialsSecret,
  desiredLimitRange,
  desiredNamespace,
  desiredNetworkPolicies,
  desiredOwnerRole,
  desiredOwnerRoleBinding,
  desiredResourceQuota,
  type TenantInput,
} from './desired-objects.ts';
import { postgresTenantName } from '../../lib/postgres/postgres-tenant-store.ts';
import { redisKeyPrefix, redisUserName } from '../../lib/redis/redis-tenant-store.ts';
import { chooseRegion, decode, type Backends, type RegionBackends, type RegionObject } from './region-backends.ts';
import {
  CREDENTIALS_SECRET,
  RELEASE_ANNOTATION,
  TENANT_FINALIZER,
  tenantNamespace,
  topicPrefix,
} from '../../lib/platform/tenant-names.ts';

/** A Tenant as stored. */
export interface TenantObject extends KubernetesObject {
  spec: TenantSpec;
  status?: TenantStatus;
}

/** Condition types and reasons a Tenant reports. */
export const Reason = {
  Ready: 'Ready',
  Created: 'Created',
  ApplyFailed: 'ApplyFailed',
  NoRegion: 'NoRegion',
  BackendUnreachable: 'BackendUnreachable',
  NotSupported: 'NotSupported',
  CleanupFailed: 'CleanupFailed',
  QuotaPending: 'QuotaPending',
} as const;

/**
 * Until the quota controller has counted a new ResourceQuota, the API server refuses to
 * create what it limits (Pipelines among them): the tenant is not ready before that.
 */
function quotaCounted(
  part: ConditionUpdate,
  desired: Record<string, string>,
  quota: (KubernetesObject & { status?: { hard?: Record<string, unknown> } }) | undefined,
): ConditionUpdate {
  if (part.status !== 'True' || Object.keys(desired).every((k) => quota?.status?.hard?.[k] !== undefined)) return part;
  return {
    type: part.type,
    status: 'Unknown',
    reason: Reason.QuotaPending,
    message: 'waiting for the quota controller to count the ResourceQuota',
  };
}

/** What the credentials Secret holds: the backends' endpoints and the tenant's users, passwords and prefixes there. */
export function credentialsData(
  tenant: string,
  backends: Pick<Backends, 'redisEndpoint' | 'postgresEndpoint' | 'database'>,
  passwords: { redis: string; postgres: string },
): Record<string, string> {
  return {
    'redis-endpoint': backends.redisEndpoint,
    'redis-username': redisUserName(tenant),
    'redis-password': passwords.redis,
    'redis-key-prefix': redisKeyPrefix(tenant),
    'postgres-endpoint': backends.postgresEndpoint,
    'postgres-database': backends.database,
    'postgres-username': postgresTenantName(tenant),
    'postgres-password': passwords.postgres,
    'postgres-schema': postgresTenantName(tenant),
  };
}

export interface TenantReconcilerOptions {
  kubeConfig: KubeConfig;
  applier: Applier;
  tenants: { get(key: string): TenantObject | undefined };
  regions: { list(): RegionObject[] };
  /** Cached children: the credentials Secret is read from there. */
  children: {
    get(kind: string, namespace: string, name: string): KubernetesObject | undefined;
    remember(obj: KubernetesObject): void;
  };
  /** Writes children unless they are unchanged. */
  childApplier: ChildApplier;
  backends: RegionBackends;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  /** How long a deleted Tenant waits for unreachable backends before letting go anyway. */
  finalizerTimeoutMs: number;
  /** How long backends found in order are trusted before a reconcile checks them again. */
  verifyPeriodMs: number;
}

/** How long a new tenant may wait for its quota to be counted before its status says so. */
export const QUOTA_GRACE_MS = 5_000;

/** A generated password: 24 random bytes, base64url (printable ASCII, as the Postgres adapter requires). */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

export class TenantReconciler implements Reconciler {
  #o: TenantReconcilerOptions;
  #core: CoreV1Api;
  /** When each tenant's backends were last found in order, with which inputs, and what that gave. */
  #verified = new Map<
    string,
    { fingerprint: string; at: number; parts: ConditionUpdate[]; fields: Partial<TenantStatus> }
  >();
  /** What this operator last wrote to each Tenant, and the resourceVersion that made. */
  #written = new WrittenObjects<TenantObject, TenantStatus>(TENANT_FINALIZER);
  /** Since when each new tenant has been waiting only for its quota to be counted. */
  #quotaPendingSince = new Map<string, number>();

  constructor(options: TenantReconcilerOptions) {
    this.#o = options;
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
  }

  async reconcile(request: ReconcileRequest): Promise<ReconcileResult | void> {
    const cached = this.#o.tenants.get(request.key);
    if (!cached) return;
    const tenant = this.#written.freshest(cached);
    if (tenant.metadata?.deletionTimestamp) return this.#finalize(tenant);
    // The finalizer must be in place before anything outside Kubernetes is created; the
    // Kubernetes children need none (the garbage collector follows owner references). A
    // mutating admission policy could add it at creation and save this write, but the API
    // server then refuses every create of the kind (503) until its type converter for the
    // CRD catches up, for about 3 s after each start and after the CRD is installed.
    const finalizer = tenant.metadata?.finalizers?.includes(TENANT_FINALIZER)
      ? Promise.resolve()
      : this.#o.applier
          .addFinalizer(this.#ref(tenant), TENANT_FINALIZER)
          .then((rv) => this.#written.note(tenant, rv, { finalizer: true }));

    const name = tenant.metadata!.name!;
    const namespace = tenantNamespace(name, tenant.spec);
    const input: TenantInput = { name, spec: tenant.spec, ownerReference: controllerReference(tenant) };
    const status: TenantStatus = {
      ...tenant.status,
      namespace,
      topicPrefix: topicPrefix(namespace),
      credentialsSecret: CREDENTIALS_SECRET,
    };
    const [namespacePart] = await Promise.all([
      this.#part('NamespaceReady', 'namespace', [desiredNamespace(input, namespace)]),
      finalizer,
    ]);
    const region = chooseRegion(this.#o.regions.list(), tenant.spec.regions);
    const quota = desiredResourceQuota(input, namespace);
    // Everything else lives in the namespace but is independent: write it all at once.
    const [quotas, network, rbac, backends] = await Promise.all([
      this.#part('QuotasReady', 'quotas', [quota, desiredLimitRange(input, namespace)]),
      this.#part('NetworkReady', 'network policies', desiredNetworkPolicies(input, namespace)),
      this.#part('RbacReady', 'owner RBAC', [
        desiredOwnerRole(input, namespace),
        desiredOwnerRoleBinding(input, namespace),
      ]),
      this.#backendsOf(tenant, input, namespace, namespacePart, region, status),
    ]);
    const parts: ConditionUpdate[] = [
      namespacePart,
      quotaCounted(
        quotas,
        quota.spec?.hard ?? {},
        this.#o.children.get('ResourceQuota', namespace, quota.metadata!.name!),
      ),
      network,
      rbac,
      ...backends,
    ];

    const ready = summarize(parts, Reason.Ready, `namespace ${namespace} and all its parts are ready`);
    if (this.#onlyCountingQuota(tenant, parts)) return { requeueAfterMs: 1_000 };
    await this.#writeStatus(tenant, status, [...parts, ready]);
    if (ready.status !== 'True') {
      if (parts.some((p) => p.reason === Reason.NoRegion)) return { requeueAfterMs: 30_000 };
      // The quota controller's status update wakes the tenant; this is only a safety net.
      if (parts.every((p) => p.status === 'True' || p.reason === Reason.QuotaPending)) return { requeueAfterMs: 5_000 };
      throw new Error(`tenant ${name} is not ready: ${ready.message}`);
    }
  }

  /**
   * Whether a new tenant has everything but a counted quota, and the quota controller has
   * had less than {@link QUOTA_GRACE_MS} to count it: then the status is not written yet,
   * since it would be written again moments later. The quota's status update wakes the
   * tenant; a tenant that waits longer says so in its status.
   */
  #onlyCountingQuota(tenant: TenantObject, parts: ConditionUpdate[]): boolean {
    const name = tenant.metadata!.name!;
    const waiting =
      parts.every((p) => p.status === 'True' || p.reason === Reason.QuotaPending) &&
      parts.some((p) => p.reason === Reason.QuotaPending);
    if (!waiting || tenant.status?.conditions?.some((c) => c.type === 'Ready')) {
      this.#quotaPendingSince.delete(name);
      return false;
    }
    const since = this.#quotaPendingSince.get(name) ?? this.#o.clock.now();
    this.#quotaPendingSince.set(name, since);
    return this.#o.clock.now() - since < QUOTA_GRACE_MS;
  }

  #ref(tenant: TenantObject) {
    return { apiVersion: API_VERSION, kind: tenantDefinition.kind, metadata: { name: tenant.metadata!.name! } };
  }

  /** Applies objects, all at once, unless the cache shows them unchanged since this operator last applied them. */
  async #part(type: string, what: string, objects: KubernetesObject[]): Promise<ConditionUpdate> {
    try {
      await Promise.all(objects.map((obj) => this.#o.childApplier.apply(obj)));
      return { type, status: 'True', reason: Reason.Created, message: `${what} in place` };
    } catch (err) {
      return {
        type,
        status: 'False',
        reason: Reason.ApplyFailed,
        message: `applying ${what} failed: ${errorSummary(err)}`,
      };
    }
  }

  async #backendsOf(
    tenant: TenantObject,
    input: TenantInput,
    namespace: string,
    namespacePart: ConditionUpdate,
    region: RegionObject | undefined,
    status: TenantStatus,
  ): Promise<ConditionUpdate[]> {
    if (!region) {
      const message = tenant.spec.regions?.length
        ? `Region ${tenant.spec.regions[0]} does not exist`
        : 'no Region is marked default and the tenant names none';
      return [
        { type: 'RedisReady', status: 'False', reason: Reason.NoRegion, message },
        { type: 'PostgresReady', status: 'False', reason: Reason.NoRegion, message },
      ];
    }
    if (namespacePart.status !== 'True') {
      const message = 'waiting for the namespace';
      return [
        { type: 'RedisReady', status: 'Unknown', reason: Reason.ApplyFailed, message },
        { type: 'PostgresReady', status: 'Unknown', reason: Reason.ApplyFailed, message },
      ];
    }
    return this.#backendParts(tenant, input, namespace, region, status);
  }

  async #backendParts(
    tenant: TenantObject,
    input: TenantInput,
    namespace: string,
    region: RegionObject,
    status: TenantStatus,
  ): Promise<ConditionUpdate[]> {
    const name = tenant.metadata!.name!;
    let backends: Backends;
    try {
      backends = await this.#o.backends.forRegion(region);
    } catch (err) {
      const message = `Region ${region.metadata?.name}: ${errorSummary(err)}`;
      const reason = hasCode(err, Errors.Unsupported) ? Reason.NotSupported : Reason.BackendUnreachable;
      return [
        { type: 'RedisReady', status: 'False', reason, message },
        { type: 'PostgresReady', status: 'False', reason, message },
      ];
    }
    // The cache is enough to reuse passwords; a miss is checked with the API server, since
    // a Secret written moments ago may not be cached yet and new passwords would rotate.
    // A tenant whose status never named the Secret has none yet: no need to ask.
    const cached = this.#o.children.get('Secret', namespace, CREDENTIALS_SECRET) as V1Secret | undefined;
    const existing =
      cached ??
      (tenant.status?.credentialsSecret === undefined
        ? undefined
        : await this.#core.readNamespacedSecret({ namespace, name: CREDENTIALS_SECRET }).catch((err: unknown) => {
            if (statusCode(err) === 404) return undefined;
            throw err;
          }));
    const redisPassword = decode(existing, 'redis-password') ?? newPassword();
    const postgresPassword = decode(existing, 'postgres-password') ?? newPassword();

    // This process found the backends in order recently, with the same inputs: skip the
    // round trips, also while the status that says so is not written yet (a new tenant is
    // reconciled several times as its children appear). A re-sync after verifyPeriodMs
    // checks them again, which repairs drift there.
    const fingerprint = hashOf([
      backends.region,
      backends.redisEndpoint,
      backends.postgresEndpoint,
      redisPassword,
      postgresPassword,
    ]);
    const verified = this.#verified.get(name);
    if (verified?.fingerprint === fingerprint && this.#o.clock.now() - verified.at < this.#o.verifyPeriodMs) {
      Object.assign(status, verified.fields);
      return verified.parts;
    }

    // The Secret names only what is derived from the tenant's name, so it is written
    // alongside the backends rather than after them; the passwords are stored before any
    // backend takes them, so an interrupted attempt sets the same ones the next time.
    const data = credentialsData(name, backends, { redis: redisPassword, postgres: postgresPassword });
    const secret = desiredCredentialsSecret(input, namespace, data);
    const unchanged = existing && Object.entries(data).every(([k, v]) => decode(existing, k) === v);
    const [redis, postgres, written] = await Promise.allSettled([
      backends.redis.ensureUser({ tenant: name, password: redisPassword }),
      backends.postgres.ensureTenant({ tenant: name, password: postgresPassword }),
      // No hash annotation, which would be derived from the passwords.
      unchanged
        ? Promise.resolve()
        : this.#o.childApplier.write(secret, { exists: existing !== undefined, changed: true }),
    ]);
    if (written.status === 'rejected') throw written.reason;
    const parts: ConditionUpdate[] = [];
    const fields: Partial<TenantStatus> = {};
    if (redis.status === 'fulfilled') {
      Object.assign(fields, { redisUser: redis.value.user, redisKeyPrefix: redis.value.keyPrefix });
      parts.push({
        type: 'RedisReady',
        status: 'True',
        reason: Reason.Created,
        message: `ACL user ${redis.value.user} limited to keys ${redis.value.keyPrefix}*`,
      });
    } else {
      parts.push({
        type: 'RedisReady',
        status: 'False',
        reason: Reason.BackendUnreachable,
        message: `Redis at ${backends.redisEndpoint}: ${errorSummary(redis.reason)}`,
      });
    }
    if (postgres.status === 'fulfilled') {
      Object.assign(fields, { postgresRole: postgres.value.role, postgresSchema: postgres.value.schema });
      parts.push({
        type: 'PostgresReady',
        status: 'True',
        reason: Reason.Created,
        message: `role and schema ${postgres.value.schema}`,
      });
    } else {
      parts.push({
        type: 'PostgresReady',
        status: 'False',
        reason: Reason.BackendUnreachable,
        message: `Postgres at ${backends.postgresEndpoint}: ${errorSummary(postgres.reason)}`,
      });
    }
    Object.assign(status, fields);
    if (parts.every((p) => p.status === 'True'))
      this.#verified.set(name, { fingerprint, at: this.#o.clock.now(), parts, fields });
    else this.#verified.delete(name);
    return parts;
  }

  async #writeStatus(tenant: TenantObject, status: TenantStatus, updates: ConditionUpdate[]): Promise<void> {
    const generation = tenant.metadata?.generation ?? 0;
    const now = new Date(this.#o.clock.now());
    let conditions: Condition[] | undefined = tenant.status?.conditions;
    for (const update of updates) conditions = setCondition(conditions, update, generation, now);
    const ready = updates.at(-1)!;
    const wasReady = tenant.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const phase = tenant.metadata?.deletionTimestamp
      ? 'Terminating'
      : ready.status === 'True'
        ? 'Ready'
        : wasReady
          ? 'Degraded'
          : 'Provisioning';
    const next: TenantStatus = { ...status, observedGeneration: generation, conditions, phase };
    if (sameJson(next, tenant.status)) return;
    if (ready.status === 'True' && !wasReady) void this.#o.events.record(tenant, 'Normal', 'Ready', ready.message);
    if (ready.status !== 'True' && wasReady) void this.#o.events.record(tenant, 'Warning', ready.reason, ready.message);
    const rv = await this.#o.applier.applyStatus({ ...this.#ref(tenant), status: next });
    this.#written.note(tenant, rv, { status: next });
  }

  /** Removes the backend users unless the policy is Retain, then lets the Tenant go. */
  async #finalize(tenant: TenantObject): Promise<void> {
    if (!tenant.metadata?.finalizers?.includes(TENANT_FINALIZER)) return;
    const name = tenant.metadata.name!;
    const released = tenant.metadata.annotations?.[RELEASE_ANNOTATION] === 'true';
    const deletedAt = new Date(tenant.metadata.deletionTimestamp!).getTime();
    const overdue = this.#o.clock.now() - deletedAt > this.#o.finalizerTimeoutMs;
    if (tenant.spec.deletionPolicy === 'Delete' && !released && !overdue) {
      const region = chooseRegion(this.#o.regions.list(), tenant.spec.regions);
      try {
        if (region) {
          const backends = await this.#o.backends.forRegion(region);
          await backends.redis.deleteUser(name, { deleteKeys: true });
          await backends.postgres.dropTenant(name);
        }
      } catch (err) {
        const message = `removing the Redis user and Postgres schema failed: ${errorSummary(err)}; retrying (annotate ${RELEASE_ANNOTATION}=true to let go)`;
        await this.#writeStatus(tenant, { ...tenant.status }, [
          { type: 'Ready', status: 'False', reason: Reason.CleanupFailed, message },
        ]).catch(() => undefined);
        throw new Error(message);
      }
    } else if (released || overdue) {
      void this.#o.events.record(
        tenant,
        'Warning',
        'CleanupAbandoned',
        released
          ? `finalizer released by ${RELEASE_ANNOTATION}; backend users may remain`
          : 'backends unreachable past the finalizer timeout; backend users may remain',
      );
    }
    await this.#o.applier.removeFinalizer({ ...this.#ref(tenant), metadata: tenant.metadata }, TENANT_FINALIZER);
    this.#verified.delete(name);
    this.#written.forget(tenant);
    this.#quotaPendingSince.delete(name);
    this.#o.log.info({ tenant: name, policy: tenant.spec.deletionPolicy }, 'tenant finalized');
  }
}
