/**
 * The process node's pod sync, reconciled from a pod's key like any controller: admits or
 * refuses a pod bound to the node, gives it a loopback IP and a {@link PodRunner}, writes
 * its status (a merge patch of pods/status with the pod's uid as precondition, as the
 * kubelet's status manager sends), and, once a deleted pod's containers have stopped,
 * deletes it for good with grace period 0 and the uid precondition, as the kubelet does.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusCode } from '../../../lib/kube/kube-client.ts';
import type { Clock } from '../../../lib/clock/clock.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../../lib/controller/reconcile.ts';
import { admissionProblem, refusedView } from './admission.ts';
import { portsFree, podPorts } from './loopback-ports.ts';
import type { PodIpPool } from './pod-ip-pool.ts';
import { PodRunner } from './pod-runner.ts';
import {
  configMapBytes,
  referencedObjects,
  secretBytes,
  tokenKey,
  tokenRequests,
  type PodSources,
} from './pod-sources.ts';
import { podStatus, rfc3339, type PodCondition, type PodView } from './pod-status.ts';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** How long the containers of a pod that vanished from the API (force-deleted) get to stop. */
const VANISHED_GRACE_MS = 2_000;

/** Options for {@link PodReconciler}. */
export interface PodReconcilerOptions {
  core: CoreV1Api;
  /** The pods bound to this node, as the informer caches them. */
  pods: { get(key: string): V1Pod | undefined };
  /** Called with a pod's key when its status should be written again. */
  enqueue: (key: string) => void;
  ipPool: PodIpPool;
  /** Images the node runs (Weir's). */
  images: readonly string[];
  hostIP: string;
  /** The agent's directory: `pods/<uid>` holds volumes, `logs/<ns>_<name>_<uid>` container logs. */
  rootDir: string;
  repoRoot: string;
  /** Where containers reach the API server. */
  apiServer?: { host: string; port: string };
  /** The environment's pid file. */
  pidFile: string;
  /** The agent's own list of container pids, which the environment kills when it stops the agent. */
  containerPidFile: string;
  clock: Clock;
  log: Logger;
}

/** Runs the pods bound to the node and reports them. */
export class PodReconciler implements Reconciler {
  #o: PodReconcilerOptions;
  #runners = new Map<string, PodRunner>();
  /** The status last written per pod uid, so that an unchanged one is not written again. */
  #written = new Map<string, { json: string; conditions: PodCondition[] }>();
  /** Pods (by uid) that ran here and finished for good; the cache may not show their phase yet. */
  #finished = new Set<string>();

  constructor(options: PodReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest): Promise<ReconcileResult | void> {
    const { key } = request;
    const pod = this.#o.pods.get(key);
    let runner = this.#runners.get(key);
    if (runner && runner.uid !== pod?.metadata?.uid) {
      // Deleted outright (or replaced by a pod of the same name): its processes must go.
      this.#forget(key, runner, VANISHED_GRACE_MS);
      runner = undefined;
    }
    if (!pod) return;
    const uid = pod.metadata!.uid!;

    if (pod.metadata?.deletionTimestamp) {
      if (runner && !runner.terminal) {
        const graceMs =
          (pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
        void runner.terminate(graceMs).then(() => this.#o.enqueue(key));
        await this.#writeStatus(pod, runner.view());
        return;
      }
      if (runner) await this.#writeStatus(pod, runner.view());
      await this.#delete(pod);
      if (runner) this.#forget(key, runner, 0);
      this.#written.delete(uid);
      this.#finished.delete(uid);
      return;
    }

    if (!runner) {
      const phase = pod.status?.phase;
      // Finished, refused or shut down before: a terminal pod never runs again.
      if (phase === 'Succeeded' || phase === 'Failed' || this.#finished.has(uid)) return;
      const problem = admissionProblem(pod, this.#o.images);
      if (problem) {
        if (!this.#written.has(uid))
          this.#o.log.warn({ pod: key, reason: problem.reason, problem: problem.message }, 'refusing the pod');
        await this.#writeStatus(pod, refusedView(pod, problem, this.#o.hostIP, rfc3339(this.#o.clock.now())));
        return;
      }
      runner = await this.#startRunner(key, pod);
    }
    runner.update(pod);
    const view = runner.view();
    await this.#writeStatus(pod, view);
    // A pod whose containers have all finished for good (restartPolicy Never or OnFailure) is done: free its IP.
    if (
      !runner.terminating &&
      view.containers.length > 0 &&
      view.containers.every((c) => c.state.kind === 'terminated')
    ) {
      this.#finished.add(uid);
      void runner.terminate(0).then(() => {
        this.#forget(key, runner, 0);
        this.#o.enqueue(key);
      });
    }
  }

  /**
   * Stops every pod for a node shutdown and reports them Failed, as the kubelet's graceful
   * node shutdown does, so that their controllers replace them.
   */
  async shutDown(graceMs: number): Promise<void> {
    await Promise.all(
      [...this.#runners].map(async ([key, runner]) => {
        await runner.terminate(graceMs);
        const pod = this.#o.pods.get(key);
        const failure = { reason: 'Terminated', message: 'Pod was terminated in response to imminent node shutdown.' };
        if (pod && !pod.metadata?.deletionTimestamp)
          await this.#writeStatus(pod, { ...runner.view(), failure }).catch(() => undefined);
        this.#finished.add(runner.uid);
        this.#forget(key, runner, 0);
      }),
    );
  }

  async #startRunner(key: string, pod: V1Pod): Promise<PodRunner> {
    const uid = pod.metadata!.uid!;
    const namespace = pod.metadata!.namespace!;
    const pool = this.#o.ipPool;
    let podIP: string;
    if (pod.spec?.hostNetwork) podIP = this.#o.hostIP;
    else if (pod.status?.podIP && pool.reserve(uid, pod.status.podIP)) podIP = pod.status.podIP;
    else podIP = await pool.allocate(uid, (ip) => portsFree(ip, podPorts(pod)));
    // Containers that ran before the agent restarted count a restart when they start again.
    const restartCounts = new Map(
      (pod.status?.containerStatuses ?? [])
        .filter((c) => c.state?.running || c.state?.terminated || c.lastState?.terminated)
        .map((c) => [c.name, c.restartCount]),
    );
    const runner = new PodRunner({
      pod,
      podIP,
      hostIP: this.#o.hostIP,
      podDir: join(this.#o.rootDir, 'pods', uid),
      logDir: join(this.#o.rootDir, 'logs', `${namespace}_${pod.metadata!.name}_${uid}`),
      repoRoot: this.#o.repoRoot,
      apiServer: this.#o.apiServer,
      pidFile: this.#o.pidFile,
      sources: () => this.#sources(pod),
      restartCounts,
      agentUid: process.getuid?.() ?? 0,
      clock: this.#o.clock,
      log: this.#o.log,
      onChange: () => this.#o.enqueue(key),
      onSpawn: (pid) => appendFileSync(this.#o.containerPidFile, `${pid}\n`),
    });
    this.#runners.set(key, runner);
    this.#o.log.info({ pod: key, podIP }, 'running the pod');
    runner.start();
    return runner;
  }

  /** Drops the runner after its containers stopped, freeing its IP. */
  #forget(key: string, runner: PodRunner, graceMs: number): void {
    if (this.#runners.get(key) === runner) this.#runners.delete(key);
    void runner.terminate(graceMs).then(() => this.#o.ipPool.release(runner.uid));
  }

  /** The ConfigMaps and Secrets the pod refers to, read fresh (missing ones are left out). */
  async #sources(pod: V1Pod): Promise<PodSources> {
    const namespace = pod.metadata!.namespace!;
    const refs = referencedObjects(pod);
    const read = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    };
    const configMaps = await Promise.all(
      [...refs.configMaps].map(
        async (name) => [name, await read(() => this.#o.core.readNamespacedConfigMap({ namespace, name }))] as const,
      ),
    );
    const secrets = await Promise.all(
      [...refs.secrets].map(
        async (name) => [name, await read(() => this.#o.core.readNamespacedSecret({ namespace, name }))] as const,
      ),
    );
    // Bound to the pod, as the kubelet's tokens are: they stop working when the pod is gone.
    const boundObjectRef = { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! };
    const serviceAccount = pod.spec?.serviceAccountName || 'default';
    const tokens = await Promise.all(
      tokenRequests(pod).map(async (request) => {
        const spec = {
          audiences: request.audience ? [request.audience] : [],
          expirationSeconds: request.expirationSeconds,
          boundObjectRef,
        };
        const answer = await this.#o.core.createNamespacedServiceAccountToken({
          namespace,
          name: serviceAccount,
          body: { spec },
        });
        return [tokenKey(request), answer.status?.token ?? ''] as const;
      }),
    );
    return {
      configMaps: new Map(configMaps.filter(([, cm]) => cm).map(([name, cm]) => [name, configMapBytes(cm!)])),
      secrets: new Map(secrets.filter(([, s]) => s).map(([name, s]) => [name, secretBytes(s!)])),
      tokens: new Map(tokens),
    };
  }

  /** Writes the status the view gives, unless it is what was written last. */
  async #writeStatus(pod: V1Pod, view: PodView): Promise<void> {
    const uid = pod.metadata!.uid!;
    const cached = (pod.status?.conditions ?? []).map(
      (c) => ({ ...c, lastTransitionTime: timeString(c.lastTransitionTime), lastProbeTime: null }) as PodCondition,
    );
    const previous = this.#written.get(uid)?.conditions ?? cached;
    const scheduled = cached.find((c) => c.type === 'PodScheduled');
    const conditions = [...previous.filter((c) => c.type !== 'PodScheduled'), ...(scheduled ? [scheduled] : [])];
    const status = podStatus(view, conditions, rfc3339(this.#o.clock.now()));
    const json = JSON.stringify(status);
    if (this.#written.get(uid)?.json === json) return;
    try {
      await this.#o.core.patchNamespacedPodStatus(
        { namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body: { metadata: { uid }, status } },
        MERGE_PATCH,
      );
    } catch (err) {
      // Gone, or replaced by another pod of that name: nothing left to report on.
      if (statusCode(err) === 404 || statusCode(err) === 409) return;
      throw err;
    }
    this.#written.set(uid, { json, conditions: status.conditions });
    this.#o.log.debug(
      { pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`, phase: status.phase },
      'wrote pod status',
    );
  }

  /** Deletes a terminated pod at once, only if it is still the pod of that uid. */
  async #delete(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    try {
      await this.#o.core.deleteNamespacedPod({
        namespace: pod.metadata!.namespace!,
        name: pod.metadata!.name!,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      });
      this.#o.log.info({ pod: `${pod.metadata!.namespace}/${pod.metadata!.name}` }, 'pod terminated and deleted');
    } catch (err) {
      if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
    }
  }
}

/** A time from client-node (a Date once deserialized) as the API's string. */
function timeString(value: unknown): string {
  return value instanceof Date ? rfc3339(value.getTime()) : String(value ?? '');
}
