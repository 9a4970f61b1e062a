/**
 * Which pods the process node runs. It has no container runtime: it runs a container as a
 * process from this repository, which only makes sense for Weir's own image. Any other pod
 * is refused with a reason and a message, instead of staying Pending with nothing saying why.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { PodView } from './pod-status.ts';
import { unsupportedVolumes } from './volumes.ts';

/** Reasons a pod is refused with. */
export const RejectReason = {
  UnsupportedImage: 'UnsupportedImage',
  UnsupportedPod: 'UnsupportedPod',
  UnsupportedVolume: 'UnsupportedVolume',
} as const;

/** Why the node cannot run the pod, or undefined if it can. */
export function admissionProblem(
  pod: V1Pod,
  images: readonly string[],
): { reason: string; message: string } | undefined {
  const foreign = (pod.spec?.containers ?? []).filter((c) => !images.includes(c.image ?? ''));
  if (foreign.length > 0) {
    const uses = foreign.map((c) => `container ${c.name} uses ${c.image}`).join(', ');
    return {
      reason: RejectReason.UnsupportedImage,
      message: `the process node runs only Weir's image (${images.join(', ')}); ${uses}`,
    };
  }
  if (pod.spec?.initContainers?.length)
    return { reason: RejectReason.UnsupportedPod, message: 'the process node does not run init containers' };
  const volumes = unsupportedVolumes(pod);
  if (volumes.length > 0)
    return {
      reason: RejectReason.UnsupportedVolume,
      message: `the process node provides only configMap, secret, downwardAPI, projected and emptyDir volumes; not ${volumes.join(', ')}`,
    };
  return undefined;
}

/**
 * How a refused pod looks. A pod nothing replaces fails, as a kubelet fails a pod it cannot
 * admit. A pod a controller owns stays Pending with its containers waiting for that reason,
 * as a kubelet shows an image it cannot pull: a failed pod is replaced at once, and here a
 * ReplicaSet of a foreign image made 772 pods in 30 s that way.
 */
export function refusedView(
  pod: V1Pod,
  problem: { reason: string; message: string },
  hostIP: string,
  now: string,
): PodView {
  const base = { restartPolicy: 'Always' as const, hostIP, startTime: now, sandboxReady: false };
  if (!pod.metadata?.ownerReferences?.some((o) => o.controller))
    return { ...base, containers: [], terminal: true, failure: problem };
  const containers = (pod.spec?.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image ?? '',
    state: { kind: 'waiting' as const, ...problem },
    ready: false,
    started: false,
    restartCount: 0,
  }));
  return { ...base, containers, terminal: false };
}
