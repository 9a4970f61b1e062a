/**
 * Which user a container's process runs as. When the agent runs as root it honours
 * runAsUser and runAsGroup (group 0 unless given, as container runtimes do) and refuses,
 * as the kubelet does, a runAsNonRoot container that would run as root. Otherwise it cannot
 * switch users and runs every container as itself. Other security settings (capabilities,
 * seccomp, a read-only root file system) are not enforced: there is no container.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError } from './pod-sources.ts';

/** The uid and gid to spawn with; empty to run as the agent's own user. */
export interface RunAs {
  uid?: number;
  gid?: number;
}

/** The container's user, from its security context over the pod's. */
export function runAs(pod: V1Pod, container: V1Container, agentUid: number): RunAs {
  const podContext = pod.spec?.securityContext;
  const own = container.securityContext;
  const uid = own?.runAsUser ?? podContext?.runAsUser;
  const gid = own?.runAsGroup ?? podContext?.runAsGroup;
  const nonRoot = own?.runAsNonRoot ?? podContext?.runAsNonRoot;
  if (agentUid !== 0) return {};
  if (nonRoot && (uid ?? 0) === 0) {
    const name = `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;
    throw new ContainerConfigError(
      `container has runAsNonRoot and image will run as root (pod: "${name}", container: ${container.name})`,
    );
  }
  if (uid === undefined || uid === 0) return gid === undefined ? {} : { gid };
  return { uid, gid: gid ?? 0 };
}
