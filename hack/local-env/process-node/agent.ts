/**
 * The process node agent: registers the Node and keeps it alive, watches the pods bound to
 * it (`spec.nodeName`) with the operator runtime's informer, and reconciles each one with a
 * {@link PodReconciler} through the runtime's controller and work queue.
 */
import { CoordinationV1Api, CoreV1Api, VersionApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '../../../lib/clock/clock.ts';
import { Controller } from '../../../lib/controller/controller.ts';
import { Informer } from '../../../lib/kube/informer.ts';
import { KubeClient } from '../../../lib/kube/kube-client.ts';
import { machineFacts } from './node-object.ts';
import { NodeHeartbeat } from './node-heartbeat.ts';
import { PodIpPool } from './pod-ip-pool.ts';
import { PodReconciler } from './pod-reconciler.ts';

/** Options for {@link ProcessNodeAgent}. */
export interface ProcessNodeAgentOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  /** Images the node runs. */
  images: readonly string[];
  /** Loopback CIDR pod IPs come from, such as 127.42.0.0/16. */
  podCidr: string;
  maxPods: number;
  /** The agent's directory: pod volumes and container logs. */
  rootDir: string;
  repoRoot: string;
  /** The environment's pid file, and the agent's own list of container pids. */
  pidFile: string;
  containerPidFile: string;
  clock: Clock;
  log: Logger;
}

/** How often every pod is looked at again even when nothing changed. */
const RESYNC_MS = 60_000;
/** Watches stay open this long without events before they count as silent (the informer's default). */
const SILENCE_TIMEOUT_MS = 5 * 60_000;

/** Host and port of the API server in the kubeconfig. */
function apiServerAddress(kubeConfig: KubeConfig): { host: string; port: string } | undefined {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) return undefined;
  const url = new URL(server);
  return { host: url.hostname, port: url.port || (url.protocol === 'https:' ? '443' : '80') };
}

/** A kubelet stand-in that runs Weir's pods as local processes. */
export class ProcessNodeAgent {
  #o: ProcessNodeAgentOptions;
  #heartbeat: NodeHeartbeat | undefined;
  #informer: Informer<V1Pod> | undefined;
  #controller: Controller | undefined;
  #reconciler: PodReconciler | undefined;

  constructor(options: ProcessNodeAgentOptions) {
    this.#o = options;
  }

  /** Registers the Node, then starts running the pods bound to it. */
  async start(): Promise<void> {
    const { kubeConfig, nodeName, clock, log } = this.#o;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const version = await kubeConfig.makeApiClient(VersionApi).getCode();
    const facts = machineFacts({
      name: nodeName,
      maxPods: this.#o.maxPods,
      kubeletVersion: version.gitVersion,
      rootDir: this.#o.rootDir,
    });
    this.#heartbeat = new NodeHeartbeat({
      core,
      coordination: kubeConfig.makeApiClient(CoordinationV1Api),
      facts,
      clock,
      log,
    });
    await this.#heartbeat.register();
    this.#heartbeat.start();

    const fieldSelector = `spec.nodeName=${nodeName}`;
    const informer = new Informer<V1Pod>({
      client: new KubeClient(kubeConfig, { fieldManager: 'weir-process-node' }),
      path: '/api/v1/pods',
      fieldSelector,
      silenceTimeoutMs: SILENCE_TIMEOUT_MS,
      resyncPeriodMs: RESYNC_MS,
      clock,
      log,
    });
    this.#reconciler = new PodReconciler({
      core,
      pods: informer,
      enqueue: (key) => this.#controller?.queue.add(key),
      ipPool: new PodIpPool(this.#o.podCidr),
      images: this.#o.images,
      hostIP: facts.address,
      rootDir: this.#o.rootDir,
      repoRoot: this.#o.repoRoot,
      apiServer: apiServerAddress(kubeConfig),
      pidFile: this.#o.pidFile,
      containerPidFile: this.#o.containerPidFile,
      clock,
      log,
    });
    this.#controller = new Controller({
      name: 'process-node',
      reconciler: this.#reconciler,
      concurrency: 4,
      clock,
      log,
    }).watchPrimary(informer);
    this.#informer = informer;
    informer.start();
    await informer.waitForSync();
    void this.#controller.start();
    log.info({ node: nodeName, podCidr: this.#o.podCidr, images: this.#o.images }, 'process node ready');
  }

  /** Stops watching, stops every pod (SIGTERM, SIGKILL after `graceMs`), reports them and the Node. */
  async stop(graceMs: number): Promise<void> {
    await this.#controller?.stop();
    await this.#informer?.stop();
    await this.#reconciler?.shutDown(graceMs);
    await this.#heartbeat?.stop();
  }
}
