/**
 * Reconciles a RateLimitPolicy's status: accepted or conflicted, with which policies, and
 * how many gateways apply its current generation. The gateways are read-only on Weir
 * resources, so they report through Leases of their own in the platform namespace; this
 * controller reads those and the namespace's policies, and writes only the status.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { applyStatusIfChanged } from '../../lib/kube/status.ts';
import type { GatewayLease } from '../../lib/ratelimit/applied-policies.ts';
import { planPolicyStatus, type StoredPolicy } from './policy-status.ts';

/** A RateLimitPolicy as the informer caches it. */
export type RateLimitPolicyObject = KubernetesObject & StoredPolicy;

export interface RateLimitPolicyReconcilerOptions {
  client: KubeClient;
  policies: { get(key: string): RateLimitPolicyObject | undefined; list(): RateLimitPolicyObject[] };
  /** Leases of the platform namespace; the gateways' are told apart by their label. */
  leases: { list(): (KubernetesObject & GatewayLease)[] };
  clock: Clock;
}

export class RateLimitPolicyReconciler implements Reconciler {
  #o: RateLimitPolicyReconcilerOptions;

  constructor(options: RateLimitPolicyReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest): Promise<ReconcileResult> {
    const policy = this.#o.policies.get(request.key);
    if (!policy) return {};
    const namespace = policy.metadata?.namespace;
    const { next, requeueAfterMs } = planPolicyStatus(
      policy,
      this.#o.policies.list().filter((p) => p.metadata?.namespace === namespace),
      this.#o.leases.list(),
      this.#o.clock.now(),
    );
    await applyStatusIfChanged(this.#o.client, policy, next);
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }
}
