/**
 * A pod's status as the kubelet reports it, computed from what the process node knows of
 * its containers: the phase (the kubelet's getPhase), container statuses, the
 * PodReadyToStartContainers, Initialized, ContainersReady and Ready conditions, and the
 * pod and host IPs. Pure, so that the rules can be checked without processes.
 */

/** Where one container stands. Times are RFC 3339 strings, as the API has them. */
export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | {
      kind: 'terminated';
      exitCode: number;
      signal?: number;
      reason: string;
      message?: string;
      startedAt?: string;
      finishedAt: string;
      containerID?: string;
    };

export type TerminatedState = Extract<ContainerState, { kind: 'terminated' }>;

/** What the process node knows of one container. */
export interface ContainerView {
  name: string;
  image: string;
  containerID?: string;
  state: ContainerState;
  lastState?: TerminatedState;
  ready: boolean;
  started: boolean;
  restartCount: number;
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** What the process node knows of one pod. */
export interface PodView {
  containers: ContainerView[];
  restartPolicy: RestartPolicy;
  hostIP: string;
  podIP?: string;
  startTime: string;
  /** The pod's IP and volumes are in place: its containers can start. */
  sandboxReady: boolean;
  /** The pod was deleted and all its containers have stopped: they will not run again. */
  terminal: boolean;
  /** Why the pod failed as a whole: the node refused it, or shut down under it. Makes it Failed. */
  failure?: { reason: string; message: string };
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** The kubelet's getPhase, for pods without init containers. */
export function podPhase(view: Pick<PodView, 'containers' | 'restartPolicy' | 'terminal' | 'failure'>): PodPhase {
  if (view.failure) return 'Failed';
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of view.containers) {
    if (c.state.kind === 'running') running++;
    else if (c.state.kind === 'terminated') {
      stopped++;
      if (c.state.exitCode === 0) succeeded++;
    } else if (c.lastState) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0) return 'Pending';
  if (view.terminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
  if (view.restartPolicy === 'Always') return 'Running';
  if (stopped === succeeded) return 'Succeeded';
  return view.restartPolicy === 'Never' ? 'Failed' : 'Running';
}

/** A condition as the API has it. */
export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastProbeTime: null;
  lastTransitionTime: string;
}

type StateJson = Record<string, Record<string, unknown>>;

function stateJson(state: ContainerState): StateJson {
  switch (state.kind) {
    case 'waiting':
      return { waiting: { reason: state.reason, message: state.message } };
    case 'running':
      return { running: { startedAt: state.startedAt } };
    case 'terminated': {
      const { kind: _kind, ...rest } = state;
      return { terminated: rest };
    }
  }
}

/**
 * The pod's status. `previous` conditions keep their lastTransitionTime while their status
 * stays; the scheduler's PodScheduled condition is carried over as it is.
 */
export function podStatus(view: PodView, previous: PodCondition[] | undefined, now: string) {
  const phase = podPhase(view);
  const condition = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
    const status = ok ? 'True' : 'False';
    const before = previous?.find((c) => c.type === type);
    return {
      type,
      status,
      reason,
      message,
      lastProbeTime: null,
      lastTransitionTime: before && before.status === status ? before.lastTransitionTime : now,
    };
  };
  const unready = view.containers.filter((c) => !c.ready).map((c) => c.name);
  const terminalPod = phase === 'Succeeded' || phase === 'Failed';
  const notReadyReason = terminalPod ? 'PodCompleted' : 'ContainersNotReady';
  const notReadyMessage = terminalPod ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const allReady = unready.length === 0 && !terminalPod;
  const scheduled = previous?.find((c) => c.type === 'PodScheduled');
  const conditions: PodCondition[] = [
    condition('PodReadyToStartContainers', view.sandboxReady && !terminalPod),
    condition('Initialized', true),
    condition('Ready', allReady, allReady ? undefined : notReadyReason, allReady ? undefined : notReadyMessage),
    condition(
      'ContainersReady',
      allReady,
      allReady ? undefined : notReadyReason,
      allReady ? undefined : notReadyMessage,
    ),
    ...(scheduled ? [scheduled] : []),
  ];
  const podIPs = view.podIP ? [{ ip: view.podIP }] : [];
  return {
    phase,
    // null removes them in a merge patch: a pod that did not fail as a whole has no reason.
    reason: view.failure?.reason ?? null,
    message: view.failure?.message ?? null,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    podIP: view.podIP ?? null,
    podIPs: podIPs.length ? podIPs : null,
    startTime: view.startTime,
    containerStatuses: view.containers.map((c) => ({
      name: c.name,
      image: c.image,
      imageID: c.image,
      containerID: c.containerID,
      ready: c.ready,
      started: c.started,
      restartCount: c.restartCount,
      state: stateJson(c.state),
      lastState: c.lastState ? stateJson(c.lastState) : {},
    })),
  };
}

export type PodStatusJson = ReturnType<typeof podStatus>;

/** The API's time format: RFC 3339 in whole seconds, as metav1.Time serializes. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
