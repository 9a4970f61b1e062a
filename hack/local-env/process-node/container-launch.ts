/**
 * How one container becomes a process: its command line and environment with mountPaths
 * rewritten to the pod's volume directories, run from the repository root (the working
 * directory of Weir's image) with the repository's Node 24 first on PATH, as the
 * container's user. The process gets only the pod's environment — nothing of the agent's,
 * such as its kubeconfig — plus the variables an image and a runtime give every container
 * (PATH, HOSTNAME, HOME, KUBERNETES_SERVICE_HOST and _PORT) and WEIR_LISTEN_HOST, the pod's own IP: every pod shares this
 * machine's network, so a server must bind its pod's address rather than 0.0.0.0.
 */
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { commandLine, containerEnv } from './container-env.ts';
import { ContainerConfigError, type PodSources } from './pod-sources.ts';
import { runAs } from './security-context.ts';
import { mountTargets, rewriteMountPaths } from './volumes.ts';

/** The one variable the process node adds to a pod's environment. */
export const LISTEN_HOST_VAR = 'WEIR_LISTEN_HOST';

/** What the node knows that the container's launch depends on. */
export interface LaunchContext {
  podIP: string;
  hostIP: string;
  /** The repository: the working directory, and where `node_modules/.bin` comes from. */
  repoRoot: string;
  /** Where each of the pod's volumes was written. */
  volumeDirs: Map<string, string>;
  agentUid: number;
  /** The API server, as KUBERNETES_SERVICE_HOST and _PORT: its Service's cluster IP is not reachable without kube-proxy. */
  apiServer?: { host: string; port: string };
}

/** Everything needed to spawn the container's process. */
export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
}

/** The launch of a container; throws {@link ContainerConfigError} for what the kubelet would refuse. */
export function containerLaunch(pod: V1Pod, container: V1Container, sources: PodSources, ctx: LaunchContext): Launch {
  if (!container.command?.length) {
    throw new ContainerConfigError(
      `container ${container.name} has no command: the process node cannot read the entrypoint of image ${container.image}`,
      'RunContainerError',
    );
  }
  const user = runAs(pod, container, ctx.agentUid);
  const targets = mountTargets(container.volumeMounts, ctx.volumeDirs);
  const rewrite = (value: string) => rewriteMountPaths(value, targets);
  const podEnv = containerEnv(pod, container, sources, { podIP: ctx.podIP, hostIP: ctx.hostIP });
  const [command, ...args] = commandLine(container, podEnv).map(rewrite);
  const env: Record<string, string> = {
    PATH: [
      join(ctx.repoRoot, 'node_modules', '.bin'),
      '/usr/local/sbin',
      '/usr/local/bin',
      '/usr/sbin',
      '/usr/bin',
      '/sbin',
      '/bin',
    ].join(':'),
    HOSTNAME: pod.spec?.hostname ?? pod.metadata?.name ?? '',
    HOME: '/',
    [LISTEN_HOST_VAR]: ctx.podIP,
    ...(ctx.apiServer
      ? { KUBERNETES_SERVICE_HOST: ctx.apiServer.host, KUBERNETES_SERVICE_PORT: ctx.apiServer.port }
      : {}),
  };
  for (const [name, value] of podEnv) env[name] = rewrite(value);
  return {
    command: command!,
    args,
    env,
    cwd: container.workingDir ? rewrite(container.workingDir) : ctx.repoRoot,
    ...user,
  };
}
