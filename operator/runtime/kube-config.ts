/**
 * Loading the cluster's kubeconfig with connection reuse. @kubernetes/client-node 2.0.1
 * builds a new undici Agent for every request, so every request pays a fresh TCP and TLS
 * handshake (and a new TLS context); under load that was most of the operator's CPU.
 * Sharing one Agent per cluster and client identity keeps connections alive.
 */
import { createHash } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';

type DispatcherFactory = (cluster: unknown, agentOptions: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; rejectUnauthorized?: boolean }) => unknown;

/** Makes every API client of `kc` share one connection pool per cluster and TLS identity. */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher: DispatcherFactory };
  const original = target.createDispatcher.bind(kc);
  const dispatchers = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const hash = createHash('sha256');
    hash.update(JSON.stringify(cluster ?? null));
    for (const part of [agentOptions.ca, agentOptions.cert, agentOptions.key]) hash.update(part ?? '-');
    hash.update(`${agentOptions.servername}/${agentOptions.rejectUnauthorized}`);
    const key = hash.digest('hex');
    if (!dispatchers.has(key)) dispatchers.set(key, original(cluster, agentOptions));
    return dispatchers.get(key);
  };
  return kc;
}

/** The kubeconfig from KUBECONFIG, ~/.kube/config or the in-cluster service account, with connection reuse. */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return reuseConnections(kc);
}
