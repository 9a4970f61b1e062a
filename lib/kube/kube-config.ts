/**
 * Loading the cluster's kubeconfig with connection reuse. @kubernetes/client-node 2.0.1
 * builds a new undici Agent for every request, so every request pays a fresh TCP and TLS
 * handshake (and a new TLS context); under load that was most of the operator's CPU.
 * Sharing one Agent per cluster and client identity keeps connections alive.
 */
import { KubeConfig } from '@kubernetes/client-node';

interface AgentOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
}
type DispatcherFactory = (cluster: object | null, agentOptions: AgentOptions) => unknown;

/** Pools kept per cluster: a client certificate that rotates adds one, and old ones are let go. */
const POOLS_PER_CLUSTER = 4;

function sameBuffer(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

function sameIdentity(a: AgentOptions, b: AgentOptions): boolean {
  return (
    sameBuffer(a.ca, b.ca) &&
    sameBuffer(a.cert, b.cert) &&
    sameBuffer(a.key, b.key) &&
    a.servername === b.servername &&
    a.rejectUnauthorized === b.rejectUnauthorized
  );
}

/** Makes every API client of `kc` share one connection pool per cluster and TLS identity. */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher: DispatcherFactory };
  const original = target.createDispatcher.bind(kc);
  // client-node hands over the same cluster object on every request (and fresh buffers read
  // from the kubeconfig), so a lookup by object and a byte comparison find the pool cheaply.
  const noCluster = {};
  const pools = new WeakMap<object, { options: AgentOptions; dispatcher: unknown }[]>();
  target.createDispatcher = (cluster, agentOptions) => {
    const known = pools.get(cluster ?? noCluster) ?? [];
    pools.set(cluster ?? noCluster, known);
    const found = known.find((p) => sameIdentity(p.options, agentOptions));
    if (found) return found.dispatcher;
    const dispatcher = original(cluster, agentOptions);
    known.unshift({ options: { ...agentOptions }, dispatcher });
    known.splice(POOLS_PER_CLUSTER);
    return dispatcher;
  };
  return kc;
}

/** The kubeconfig from KUBECONFIG, ~/.kube/config or the in-cluster service account, with connection reuse. */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return reuseConnections(kc);
}
