/** Kubernetes Events on Weir objects, so that `kubectl describe` tells what the operator did. */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { KubeClient } from './kube-client.ts';

/** Records events; failures to record are logged, never thrown. */
export class EventRecorder {
  #client: Pick<KubeClient, 'send'>;
  #component: string;
  #instance: string;
  #clock: Clock;
  #log: Logger;

  constructor(options: {
    client: Pick<KubeClient, 'send'>;
    component: string;
    instance: string;
    clock: Clock;
    log: Logger;
  }) {
    this.#client = options.client;
    this.#component = options.component;
    this.#instance = options.instance;
    this.#clock = options.clock;
    this.#log = options.log;
  }

  /** Records an event on `obj`; events of cluster-scoped objects go to the default namespace. */
  async record(obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = obj.metadata?.namespace ?? 'default';
    try {
      const now = new Date(this.#clock.now()).toISOString();
      await this.#client.send('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
        body: {
          metadata: { generateName: `${obj.metadata?.name ?? 'object'}.`, namespace },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.metadata?.name,
            namespace: obj.metadata?.namespace,
            uid: obj.metadata?.uid,
            resourceVersion: obj.metadata?.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: this.#component },
          reportingComponent: this.#component,
          reportingInstance: this.#instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, reason }, 'could not record event');
    }
  }
}
