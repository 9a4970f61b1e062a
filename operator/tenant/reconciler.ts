/**
 * Reconciles a Tenant: its namespace, quotas, network policies, owner RBAC, Redis ACL
 * user and Postgres role and schema, and the Secret with the generated credentials; a
 * finalizer disables and removes the backend users when the Tenant goes.
 *
 * Level-triggered: every reconcile reads the Tenant, its children and its Region from the
 * caches, converges, and writes what differs; nothing is remembered between reconciles.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TenantSpec, TenantStatus } from '../../crds/tenant.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { APPLIED_AT_ANNOTATION, type ChildApplier, type ChildCache } from '../../lib/controller/child-applier.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import { errorSummary, Errors, hasCode, weirError } from '../../lib/errors/errors.ts';
import { summarize, type ConditionUpdate } from '../../lib/kube/conditions.ts';
import type { EventRecorder } from '../../lib/kube/event-recorder.ts';
import { addFinalizer, hasFinalizer } from '../../lib/kube/finalizers.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { controllerReference } from '../../lib/kube/owner-reference.ts';
import { applyStatusIfChanged } from '../../lib/kube/status.ts';
import { CREDENTIALS_SECRET, TENANT_FINALIZER, tenantNamespace, topicPrefix } from '../../lib/platform/tenant-names.ts';
import { credentialsData, holds, passwordsFrom, type SecretData } from './credentials.ts';
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
import { namespaceProblem } from './namespace-claim.ts';
import { chooseRegion, type Backends, type BackendsSource, type RegionObject } from './region-backends.ts';
import { finalizeTenant } from './tenant-finalizer.ts';
import { nextStatus, quotaCounted, QUOTA_GRACE_MS, Reason, waitingOnlyForQuota } from './tenant-status.ts';

/** A Tenant as stored. */
export interface TenantObject extends KubernetesObject {
  spec: TenantSpec;
  status?: TenantStatus;
}

export interface TenantReconcilerOptions {
  client: KubeClient;
  tenants: { get(key: string): TenantObject | undefined };
  regions: { list(): RegionObject[] };
  pipelines: { list(): KubernetesObject[] };
  /** Cached children: the credentials Secret, the namespace and the quota are read from there. */
  children: ChildCache;
  childApplier: ChildApplier;
  backends: BackendsSource;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  /** The operator's own namespace, which no tenant may take. */
  platformNamespace: string;
  /** How long a deleted Tenant waits for unreachable backends before letting go anyway. */
  finalizerTimeoutMs: number;
}

export class TenantReconciler implements Reconciler {
  #o: TenantReconcilerOptions;

  constructor(options: TenantReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest, signal?: AbortSignal): Promise<ReconcileResult | void> {
    const tenant = this.#o.tenants.get(request.key);
    if (!tenant) return;
    if (tenant.metadata?.deletionTimestamp) return finalizeTenant(this.#o, tenant, this.#region(tenant));
    try {
      return await this.#converge(tenant, signal);
    } catch (err) {
      // A reconcile that keeps failing says why in the status, not only in the operator's log
      // (a tenant found not ready has said so in its status already).
      if (hasCode(err, Errors.NotReady)) throw err;
      const failed = {
        type: 'Ready',
        status: 'False',
        reason: Reason.ReconcileFailed,
        message: errorSummary(err),
      } as const;
      await this.#writeStatus(tenant, { ...tenant.status }, [failed]).catch(() => undefined);
      throw err;
    }
  }

  async #converge(tenant: TenantObject, signal: AbortSignal | undefined): Promise<ReconcileResult | void> {
    const name = tenant.metadata!.name!;
    const namespace = tenantNamespace(name, tenant.spec);
    const status: TenantStatus = {
      ...tenant.status,
      namespace,
      topicPrefix: topicPrefix(namespace),
      credentialsSecret: CREDENTIALS_SECRET,
    };

    const claim = await namespaceProblem(this.#o, name, namespace, signal);
    if (claim) {
      const update: ConditionUpdate = { type: 'NamespaceReady', status: 'False', ...claim };
      await this.#writeStatus(tenant, status, [update, summarize([update], Reason.Ready, '')]);
      return { requeueAfterMs: 30_000 };
    }

    // The finalizer must be in place before anything outside Kubernetes is created; the
    // Kubernetes children need none (the garbage collector follows owner references).
    const finalizer = hasFinalizer(tenant, TENANT_FINALIZER)
      ? Promise.resolve()
      : addFinalizer(this.#o.client, this.#ref(tenant), TENANT_FINALIZER);
    const input: TenantInput = {
      name,
      spec: tenant.spec,
      ownerReference: controllerReference(tenant),
      platformNamespace: this.#o.platformNamespace,
    };
    const [namespacePart] = await Promise.all([
      this.#part('NamespaceReady', 'namespace', [desiredNamespace(input, namespace)], signal),
      finalizer,
    ]);
    const quota = desiredResourceQuota(input, namespace);
    // Everything else lives in the namespace but is independent: write it all at once.
    const [quotas, network, rbac, backends] = await Promise.all([
      this.#part('QuotasReady', 'quotas', [quota, desiredLimitRange(input, namespace)], signal),
      this.#part('NetworkReady', 'network policies', desiredNetworkPolicies(input, namespace), signal),
      // In order: the API server refuses a RoleBinding whose Role does not exist yet.
      this.#part('RbacReady', 'owner RBAC', [desiredOwnerRole(input, namespace)], signal).then((role) =>
        role.status === 'True'
          ? this.#part('RbacReady', 'owner RBAC', [desiredOwnerRoleBinding(input, namespace)], signal)
          : role,
      ),
      namespacePart.status === 'True'
        ? this.#backendParts(tenant, input, namespace, status, signal)
        : backendsUnknown('waiting for the namespace'),
    ]);
    const cachedQuota = this.#o.children.get('ResourceQuota', namespace, quota.metadata!.name!);
    const counted = quotaCounted(quotas, quota.spec?.hard ?? {}, cachedQuota);
    const parts = [namespacePart, counted, network, rbac, ...backends];
    const ready = summarize(parts, Reason.Ready, `namespace ${namespace} and all its parts are ready`);

    // A new tenant whose quota the quota controller has not counted yet gets its status once
    // it has (its status update wakes the tenant), unless that takes longer than the grace
    // since the quota was applied (a quota the cache does not show yet was applied just now).
    const appliedAt = Date.parse(cachedQuota?.metadata?.annotations?.[APPLIED_AT_ANNOTATION] ?? '');
    const waited = Number.isNaN(appliedAt) ? 0 : this.#o.clock.now() - appliedAt;
    if (waitingOnlyForQuota(tenant.status, parts) && waited < QUOTA_GRACE_MS)
      return { requeueAfterMs: QUOTA_GRACE_MS - waited };
    await this.#writeStatus(tenant, status, [...parts, ready]);
    if (ready.status === 'True') return;
    if (parts.some((p) => p.reason === Reason.NoRegion)) return { requeueAfterMs: 30_000 };
    if (parts.every((p) => p.status === 'True' || p.reason === Reason.QuotaPending)) return { requeueAfterMs: 5_000 };
    throw weirError(Errors.NotReady, `tenant ${name} is not ready: ${ready.message}`);
  }

  #region(tenant: TenantObject) {
    return chooseRegion(this.#o.regions.list(), tenant.spec.regions, tenant.status?.region);
  }

  #ref(tenant: TenantObject) {
    return { apiVersion: tenant.apiVersion!, kind: tenant.kind!, metadata: { name: tenant.metadata!.name! } };
  }

  /** Applies objects, all at once, unless the cache shows them unchanged. */
  async #part(type: string, what: string, objects: KubernetesObject[], signal?: AbortSignal): Promise<ConditionUpdate> {
    try {
      await Promise.all(objects.map((obj) => this.#o.childApplier.apply(obj, signal)));
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

  async #backendParts(
    tenant: TenantObject,
    input: TenantInput,
    namespace: string,
    status: TenantStatus,
    signal?: AbortSignal,
  ): Promise<ConditionUpdate[]> {
    const choice = this.#region(tenant);
    if (!choice.region) return backendsFailed(Reason.NoRegion, choice.problem);
    let backends: Backends;
    try {
      backends = await this.#o.backends.forRegion(choice.region);
    } catch (err) {
      const reason = hasCode(err, Errors.Unsupported) ? Reason.NotSupported : Reason.BackendUnreachable;
      return backendsFailed(reason, `Region ${choice.region.metadata?.name}: ${errorSummary(err)}`);
    }
    status.region = backends.region;
    const name = input.name;
    // The cache holds the Secret once written; a tenant whose status named it may have one
    // the cache has not seen yet, and new passwords would rotate the ones in use.
    const existing =
      (this.#o.children.get('Secret', namespace, CREDENTIALS_SECRET) as SecretData | undefined) ??
      (tenant.status?.credentialsSecret === undefined
        ? undefined
        : await this.#o.client.read<SecretData>({
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { namespace, name: CREDENTIALS_SECRET },
          }));
    const passwords = passwordsFrom(existing);
    const data = credentialsData(name, backends, passwords);
    // The passwords are stored before any backend takes them, so an interrupted attempt sets
    // the same ones the next time.
    if (!holds(existing, data))
      await this.#o.childApplier.apply(desiredCredentialsSecret(input, namespace, data), signal);
    const [redis, postgres] = await Promise.allSettled([
      backends.redis.ensureUser({ tenant: name, password: passwords.redis }),
      backends.postgres.ensureTenant({
        tenant: name,
        password: passwords.postgres,
        connectionLimit: tenant.spec.quotas.postgresConnections,
      }),
    ]);
    const parts: ConditionUpdate[] = [];
    if (redis.status === 'fulfilled') {
      Object.assign(status, { redisUser: redis.value.user, redisKeyPrefix: redis.value.keyPrefix });
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
      Object.assign(status, { postgresRole: postgres.value.role, postgresSchema: postgres.value.schema });
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
    return parts;
  }

  async #writeStatus(tenant: TenantObject, status: TenantStatus, updates: ConditionUpdate[]): Promise<void> {
    const { next, became } = nextStatus(tenant, status, updates, this.#o.clock.now());
    if (!(await applyStatusIfChanged(this.#o.client, tenant, next))) return;
    const ready = updates.at(-1)!;
    if (became === 'ready') void this.#o.events.record(tenant, 'Normal', 'Ready', ready.message);
    if (became === 'unready') void this.#o.events.record(tenant, 'Warning', ready.reason, ready.message);
  }
}

function backendsFailed(reason: string, message: string): ConditionUpdate[] {
  return [
    { type: 'RedisReady', status: 'False', reason, message },
    { type: 'PostgresReady', status: 'False', reason, message },
  ];
}

async function backendsUnknown(message: string): Promise<ConditionUpdate[]> {
  return [
    { type: 'RedisReady', status: 'Unknown', reason: Reason.ApplyFailed, message },
    { type: 'PostgresReady', status: 'Unknown', reason: Reason.ApplyFailed, message },
  ];
}
