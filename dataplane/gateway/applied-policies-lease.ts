/**
 * The gateway's own Lease in the platform namespace: renewed every `renewMs` with the
 * RateLimitPolicies the gateway applies (see lib/ratelimit/applied-policies.ts), and
 * written again soon after the routing table changes, so a new policy's `appliedBy` counts
 * this gateway within seconds. Deleted on a clean shutdown.
 */
import type { Clock, TimerHandle } from '../../lib/clock/clock.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import {
  APPLIED_POLICIES_ANNOTATION,
  encodeApplied,
  GATEWAY_LEASE_LABEL,
  gatewayLeaseName,
} from '../../lib/ratelimit/applied-policies.ts';

/** Options for {@link AppliedPoliciesLease}. */
export interface AppliedPoliciesLeaseOptions {
  client: KubeClient;
  namespace: string;
  gatewayId: string;
  clock: Clock;
  log: Logger;
  /** Seconds the lease counts without a renewal; 30 unless given. */
  durationSeconds?: number;
  /** How often it is renewed; 10 s unless given. */
  renewMs?: number;
  /** How long after a change it is written; 500 ms unless given. */
  settleMs?: number;
}

/** Keeps the gateway's Lease current. */
export class AppliedPoliciesLease {
  #o: Required<AppliedPoliciesLeaseOptions>;
  #applied: ReadonlyMap<string, number> = new Map();
  #timer: TimerHandle | undefined;
  #writing: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly name: string;

  constructor(options: AppliedPoliciesLeaseOptions) {
    this.#o = { durationSeconds: 30, renewMs: 10_000, settleMs: 500, ...options };
    this.name = gatewayLeaseName(options.gatewayId);
  }

  /** Notes what is applied now; the lease says so within `settleMs`. */
  update(applied: ReadonlyMap<string, number>): void {
    this.#applied = applied;
    this.#schedule(this.#o.settleMs);
  }

  /** Writes the lease now and keeps renewing it. */
  async start(): Promise<void> {
    await this.#write();
    this.#schedule(this.#o.renewMs);
  }

  /** Stops renewing and deletes the lease, so the gateway stops counting at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    await this.#writing;
    await this.#o.client
      .delete({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.name, namespace: this.#o.namespace },
      })
      .catch((err: Error) => this.#o.log.warn({ err: { message: err.message } }, 'deleting the gateway lease failed'));
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#write().finally(() => this.#schedule(this.#o.renewMs));
    }, ms);
  }

  #write(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      if (this.#stopped) return;
      const now = new Date(this.#o.clock.now()).toISOString().replace('Z', '000Z');
      try {
        await this.#o.client.apply({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: this.name,
            namespace: this.#o.namespace,
            labels: {
              [GATEWAY_LEASE_LABEL]: 'true',
              'app.kubernetes.io/name': 'weir-gateway',
              'app.kubernetes.io/part-of': 'weir',
            },
            annotations: { [APPLIED_POLICIES_ANNOTATION]: encodeApplied(this.#applied) },
          },
          spec: { holderIdentity: this.#o.gatewayId, leaseDurationSeconds: this.#o.durationSeconds, renewTime: now },
        } as never);
      } catch (err) {
        this.#o.log.warn({ err: { message: (err as Error).message } }, 'writing the gateway lease failed; retrying');
      }
    });
    return this.#writing;
  }
}
