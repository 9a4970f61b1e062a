import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podPhase, podStatus, rfc3339, type ContainerView, type PodCondition, type PodView } from './pod-status.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:00:10Z';

function container(state: ContainerView['state'], extra: Partial<ContainerView> = {}): ContainerView {
  return {
    name: 'processor',
    image: 'ghcr.io/weir-dev/weir:0.1.0',
    state,
    ready: false,
    started: state.kind === 'running',
    restartCount: 0,
    ...extra,
  };
}

function view(containers: ContainerView[], extra: Partial<PodView> = {}): PodView {
  return {
    containers,
    restartPolicy: 'Always',
    hostIP: '127.0.0.1',
    podIP: '127.42.0.1',
    startTime: T0,
    sandboxReady: true,
    terminal: false,
    ...extra,
  };
}

const running = { kind: 'running', startedAt: T0 } as const;
const exited = (exitCode: number) =>
  ({
    kind: 'terminated',
    exitCode,
    reason: exitCode === 0 ? 'Completed' : 'Error',
    startedAt: T0,
    finishedAt: T1,
  }) as const;

describe('the pod phase', () => {
  const cases: [string, Parameters<typeof podPhase>[0], string][] = [
    [
      'is Pending while a container has never started',
      view([container({ kind: 'waiting', reason: 'ContainerCreating' })]),
      'Pending',
    ],
    ['is Running while a container runs', view([container(running)]), 'Running'],
    [
      'stays Running while a crashed container waits to restart',
      view([container({ kind: 'waiting', reason: 'CrashLoopBackOff' }, { lastState: exited(1) })]),
      'Running',
    ],
    [
      'is Succeeded when every container exited 0 and none restarts',
      view([container(exited(0))], { restartPolicy: 'OnFailure' }),
      'Succeeded',
    ],
    [
      'is Failed when a container failed under restartPolicy Never',
      view([container(exited(0)), container(exited(2))], { restartPolicy: 'Never' }),
      'Failed',
    ],
    [
      'is Running under OnFailure while a failed container restarts',
      view([container(exited(2))], { restartPolicy: 'OnFailure' }),
      'Running',
    ],
    [
      'is Succeeded for a deleted pod whose containers stopped cleanly, whatever the policy',
      view([container(exited(0))], { terminal: true }),
      'Succeeded',
    ],
    [
      'is Failed for a deleted pod with a container killed',
      view([container(exited(137))], { terminal: true }),
      'Failed',
    ],
    [
      'is Failed when the node refused the pod',
      view([], { failure: { reason: 'UnsupportedImage', message: 'no' } }),
      'Failed',
    ],
  ];
  for (const [name, input, phase] of cases) it(name, () => assert.equal(podPhase(input), phase));
});

describe('the pod status', () => {
  it('is Ready when every container is, and says which are not', () => {
    const notReady = podStatus(view([container(running)]), undefined, T0);
    const ready = notReady.conditions.find((c) => c.type === 'Ready')!;
    assert.deepEqual(
      [ready.status, ready.reason, ready.message],
      ['False', 'ContainersNotReady', 'containers with unready status: [processor]'],
    );
    const now = podStatus(view([container(running, { ready: true })]), notReady.conditions, T1);
    assert.deepEqual(
      now.conditions.filter((c) => c.status === 'True').map((c) => c.type),
      ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady'],
    );
  });

  it('keeps the time of the last transition while a condition holds, and moves it when it flips', () => {
    const first = podStatus(view([container(running)]), undefined, T0);
    const same = podStatus(view([container(running)]), first.conditions, T1);
    assert.equal(same.conditions.find((c) => c.type === 'Ready')!.lastTransitionTime, T0);
    const flipped = podStatus(view([container(running, { ready: true })]), same.conditions, T1);
    assert.equal(flipped.conditions.find((c) => c.type === 'Ready')!.lastTransitionTime, T1);
    assert.equal(flipped.conditions.find((c) => c.type === 'Initialized')!.lastTransitionTime, T0);
  });

  it("carries the scheduler's PodScheduled condition over", () => {
    const scheduled: PodCondition = {
      type: 'PodScheduled',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: T0,
    };
    assert.deepEqual(podStatus(view([container(running)]), [scheduled], T1).conditions.at(-1), scheduled);
  });

  it('gives the pod its loopback IP and the container its states as the API spells them', () => {
    const s = podStatus(
      view([
        container(
          { kind: 'waiting', reason: 'CrashLoopBackOff', message: 'back-off 10s' },
          { restartCount: 1, lastState: exited(1) },
        ),
      ]),
      undefined,
      T0,
    );
    assert.deepEqual([s.podIP, s.podIPs, s.hostIP], ['127.42.0.1', [{ ip: '127.42.0.1' }], '127.0.0.1']);
    assert.deepEqual(s.containerStatuses[0]!.state, {
      waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' },
    });
    assert.deepEqual(s.containerStatuses[0]!.lastState, {
      terminated: { exitCode: 1, reason: 'Error', startedAt: T0, finishedAt: T1 },
    });
    assert.equal(s.reason, null);
  });

  it('gives a refused pod its reason and message', () => {
    const s = podStatus(
      view([], {
        failure: { reason: 'UnsupportedImage', message: "the process node runs only Weir's image" },
        podIP: undefined,
      }),
      undefined,
      T0,
    );
    assert.deepEqual([s.phase, s.reason, s.podIP], ['Failed', 'UnsupportedImage', null]);
    assert.equal(s.conditions.find((c) => c.type === 'Ready')!.reason, 'PodCompleted');
  });

  it('writes times in whole seconds', () => {
    assert.equal(rfc3339(Date.UTC(2026, 0, 1, 0, 0, 0, 999)), T0);
  });
});
