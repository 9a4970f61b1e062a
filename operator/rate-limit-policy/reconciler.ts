/**
 * Reconciles a RateLimitPolicy's status: accepted or conflicted, with which policies, and
 * how many gateways apply its current generation. The gateways are read-only on Weir
 * resources, so they report through Leases of their own in the platform namespace; this
 * controller reads those and the namespace's policies, and writes only the status.
 */
import type { Logger } from 'pino';
import { API_VERSION } from '../../crds/kind-definition.ts';
import { rateLimitPolicyDefinition, type RateLimitPolicyStatus } from '../../crds/rate-limit-policy.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import type { Applier } from '../../lib/kube/apply.ts';
import { setCondition, type Condition } from '../../lib/kube/conditions.ts';
import { sameJson } from '../../lib/kube/same-json.ts';
import type { GatewayLease } from '../../lib/ratelimit/applied-policies.ts';
import type { PolicyObject } from '../../lib/ratelimit/policy-set.ts';
import { planPolicyStatus } from './policy-status.ts';

/** A RateLimitPolicy as stored. */
export interface RateLimitPolicyObject extends PolicyObject {
  apiVersion?: string;
  kind?: string;
  status?: RateLimitPolicyStatus;
}

export interface RateLimitPolicyReconcilerOptions {
  applier: Applier;
  policies: { get(key: string): RateLimitPolicyObject | undefined; list(): RateLimitPolicyObject[] };
  /** Leases of the platform namespace; the gateways' are told apart by their label. */
  leases: { list(): GatewayLease[] };
  clock: Clock;
  log: Logger;
}

export class RateLimitPolicyReconciler implements Reconciler {
  #o: RateLimitPolicyReconcilerOptions;

  constructor(options: RateLimitPolicyReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest): Promise<ReconcileResult | void> {
    const policy = this.#o.policies.get(request.key);
    if (!policy) return;
    const namespace = policy.metadata?.namespace;
    const now = this.#o.clock.now();
    const plan = planPolicyStatus(
      policy,
      this.#o.policies.list().filter((p) => p.metadata?.namespace === namespace),
      this.#o.leases.list(),
      now,
    );
    const generation = policy.metadata?.generation ?? 0;
    let conditions: Condition[] | undefined = policy.status?.conditions;
    for (const update of plan.conditions) conditions = setCondition(conditions, update, generation, new Date(now));
    const status: RateLimitPolicyStatus = { ...plan.status, observedGeneration: generation, conditions };
    if (!sameJson(status, policy.status)) {
      await this.#o.applier.applyStatus({
        apiVersion: API_VERSION,
        kind: rateLimitPolicyDefinition.kind,
        metadata: { name: policy.metadata!.name!, namespace: namespace! },
        status,
      });
      this.#o.log.debug({ key: request.key, appliedBy: status.appliedBy }, 'rate-limit policy status written');
    }
    return plan.requeueAfterMs === undefined ? undefined : { requeueAfterMs: plan.requeueAfterMs };
  }
}
