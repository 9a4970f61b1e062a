/**
 * The cluster a data-plane service (gateway, serving) talks to. In a pod, the service
 * account's token, CA and namespace are read from the directory WEIR_SERVICE_ACCOUNT_DIR
 * names (default the standard mount), so that the local environment's process node — which
 * rewrites paths in the environment, not in what a program opens — can point the service at
 * the volume it wrote.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig, reuseConnections } from './kube-config.ts';

/** The standard mount of a pod's service account. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The cluster from KUBECONFIG if set, else the pod's service account (from `dir`), else the defaults. */
export function podKubeConfig(env: NodeJS.ProcessEnv): KubeConfig {
  const dir = env.WEIR_SERVICE_ACCOUNT_DIR || SERVICE_ACCOUNT_DIR;
  if (env.KUBECONFIG || !env.KUBERNETES_SERVICE_HOST || !existsSync(join(dir, 'token'))) return loadKubeConfig();
  const host = env.KUBERNETES_SERVICE_HOST.includes(':')
    ? `[${env.KUBERNETES_SERVICE_HOST}]`
    : env.KUBERNETES_SERVICE_HOST;
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    {
      name: 'in-cluster',
      server: `https://${host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`,
      caFile: join(dir, 'ca.crt'),
      skipTLSVerify: false,
    },
    // client-node reads a token file again when it changes, as projected tokens rotate.
    { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } },
  );
  return reuseConnections(kc);
}
