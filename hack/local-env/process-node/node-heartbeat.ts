/**
 * Keeps the process node's Node alive the way a kubelet does: registers it, renews its
 * Lease in kube-node-lease every 10 s (lease duration 40 s), and posts its status with a
 * fresh heartbeat every minute, so that kube-controller-manager's node lifecycle
 * controller never finds it silent, marks it NotReady, taints it or evicts its pods.
 */
import {
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type CoordinationV1Api,
  type CoreV1Api,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '../../../lib/clock/clock.ts';
import { statusCode } from '../../../lib/kube/kube-client.ts';
import {
  desiredNode,
  nodeConditions,
  nodeLabels,
  nodeStatusFacts,
  type NodeCondition,
  type NodeFacts,
} from './node-object.ts';
import { describeError } from './api-error.ts';
import { rfc3339 } from './pod-status.ts';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const LEASE_NAMESPACE = 'kube-node-lease';

/** Options for {@link NodeHeartbeat}. */
export interface NodeHeartbeatOptions {
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  facts: NodeFacts;
  clock: Clock;
  log: Logger;
  /** The kubelet's defaults: 40 s. */
  leaseDurationSeconds?: number;
  /** The kubelet renews at a quarter of the duration: 10 s. */
  renewIntervalMs?: number;
  /** How often the status is posted even when nothing changed; 1 min (a kubelet: 5 min). */
  statusReportMs?: number;
}

/** Registration, Lease and status of the Node. */
export class NodeHeartbeat {
  #o: Required<NodeHeartbeatOptions>;
  #uid: string | undefined;
  #lease: V1Lease | undefined;
  #conditions: NodeCondition[] | undefined;
  #lastReport = 0;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: NodeHeartbeatOptions) {
    this.#o = { leaseDurationSeconds: 40, renewIntervalMs: 10_000, statusReportMs: 60_000, ...options };
  }

  /** Creates the Node, or takes over the one a previous run left, and reports it Ready. */
  async register(): Promise<void> {
    const { facts, core } = this.#o;
    let node: V1Node;
    try {
      node = await core.createNode({ body: desiredNode(facts) });
      this.#o.log.info({ node: facts.name }, 'registered the node');
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      node = await core.patchNode({ name: facts.name, body: { metadata: { labels: nodeLabels(facts) } } }, MERGE_PATCH);
      this.#o.log.info({ node: facts.name }, 'node already registered; taking it over');
    }
    this.#uid = node.metadata?.uid;
    this.#conditions = (node.status?.conditions as unknown as NodeCondition[] | undefined)?.map((c) => ({
      ...c,
      lastTransitionTime: timeString(c.lastTransitionTime),
    }));
    await this.reportStatus();
    await this.renewLease();
  }

  /** Renews the Lease and posts the status on schedule until {@link stop}. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops the heartbeat and reports the node NotReady, so that nobody waits for pods it no longer runs. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.reportStatus({
      reason: 'ProcessNodeStopped',
      message: 'the process node agent stopped; it runs no pods until it starts again',
    }).catch((err: unknown) => this.#o.log.warn({ err: String(err) }, 'cannot report the node NotReady'));
  }

  /** Posts the Node's status with a fresh heartbeat. */
  async reportStatus(notReady?: { reason: string; message: string }): Promise<void> {
    const { facts, core, clock } = this.#o;
    const conditions = nodeConditions(this.#conditions, rfc3339(clock.now()), notReady);
    await core.patchNodeStatus(
      { name: facts.name, body: { status: { ...nodeStatusFacts(facts), conditions } } },
      MERGE_PATCH,
    );
    this.#conditions = conditions;
    this.#lastReport = clock.now();
  }

  /** Renews the Lease, creating it if needed; a conflict is resolved by reading it again. */
  async renewLease(): Promise<void> {
    const { facts, coordination, clock, leaseDurationSeconds } = this.#o;
    const spec = { holderIdentity: facts.name, leaseDurationSeconds, renewTime: new V1MicroTime(clock.now()) };
    if (this.#lease) {
      try {
        this.#lease = await coordination.replaceNamespacedLease({
          namespace: LEASE_NAMESPACE,
          name: facts.name,
          body: { ...this.#lease, spec: { ...this.#lease.spec, ...spec } },
        });
        return;
      } catch (err) {
        const code = statusCode(err);
        if (code !== 409 && code !== 404) throw err;
        this.#lease = undefined;
      }
    }
    try {
      const current = await coordination.readNamespacedLease({ namespace: LEASE_NAMESPACE, name: facts.name });
      this.#lease = await coordination.replaceNamespacedLease({
        namespace: LEASE_NAMESPACE,
        name: facts.name,
        body: { ...current, spec: { ...current.spec, ...spec } },
      });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      // Owned by the Node, as the kubelet's is, so that deleting the Node deletes its Lease.
      const ownerReferences = this.#uid
        ? [{ apiVersion: 'v1', kind: 'Node', name: facts.name, uid: this.#uid }]
        : undefined;
      this.#lease = await coordination.createNamespacedLease({
        namespace: LEASE_NAMESPACE,
        body: { metadata: { name: facts.name, namespace: LEASE_NAMESPACE, ownerReferences }, spec },
      });
    }
  }

  async #run(): Promise<void> {
    const { clock, renewIntervalMs, statusReportMs, log } = this.#o;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      await clock.sleep(renewIntervalMs, signal).catch(() => undefined);
      if (signal.aborted) return;
      await this.renewLease().catch((err: unknown) =>
        log.warn({ err: describeError(err) }, 'cannot renew the node lease'),
      );
      if (clock.now() - this.#lastReport >= statusReportMs) {
        await this.reportStatus().catch((err: unknown) =>
          log.warn({ err: describeError(err) }, 'cannot post the node status'),
        );
      }
    }
  }
}

/** A condition time from client-node (a Date once deserialized) as the API's string. */
function timeString(value: unknown): string {
  return value instanceof Date ? rfc3339(value.getTime()) : String(value ?? '');
}
