import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { FakeClock } from '../../../lib/clock/clock.ts';
import { PodRunner } from './pod-runner.ts';
import type { PodSources } from './pod-sources.ts';
import type { ContainerView } from './pod-status.ts';

const WEIR = 'ghcr.io/weir-dev/weir:0.1.0';

/** A runner for a one-container pod running `script` with sh, on a fake clock; real processes. */
function runner(
  script: string,
  spec: Partial<NonNullable<V1Pod['spec']>> = {},
  container: Partial<V1Container> = {},
  sources?: () => Promise<PodSources>,
) {
  const dir = mkdtempSync(join(tmpdir(), 'weir-pod-runner-'));
  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: `uid-${Math.random()}` },
    spec: { containers: [{ name: 'c', image: WEIR, command: ['sh', '-c', script], ...container }], ...spec },
  };
  const clock = new FakeClock({ now: Date.UTC(2026, 0, 1) });
  const r = new PodRunner({
    pod,
    podIP: '127.0.0.1',
    hostIP: '127.0.0.1',
    podDir: join(dir, 'pod'),
    logDir: join(dir, 'logs'),
    repoRoot: dir,
    pidFile: join(dir, 'pids'),
    sources: sources ?? (async () => ({ configMaps: new Map(), secrets: new Map() })),
    agentUid: process.getuid?.() ?? 0,
    clock,
    log: pino({ enabled: false }),
    onChange: () => undefined,
  });
  return { r, clock, dir };
}

/** The container's view once `check` accepts it; processes exit in real time. */
async function until(r: PodRunner, check: (c: ContainerView) => boolean, timeoutMs = 5_000): Promise<ContainerView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = r.view().containers[0]!;
    if (check(c)) return c;
    if (Date.now() > deadline) throw new Error(`container never got there: ${JSON.stringify(c)}`);
    await sleep(20);
  }
}

describe('a pod runner', () => {
  it('runs a container without a readiness probe as ready, and stops it with SIGTERM', async () => {
    const { r, dir } = runner('trap "echo bye; exit 0" TERM; echo hello; while true; do sleep 0.05; done');
    r.start();
    const running = await until(r, (c) => c.state.kind === 'running');
    assert.deepEqual([running.ready, running.started, running.restartCount], [true, true, 0]);
    await r.terminate(5_000);
    const stopped = r.view().containers[0]!;
    assert.equal(stopped.state.kind, 'terminated');
    assert.equal(stopped.state.kind === 'terminated' && stopped.state.reason, 'Completed');
    assert.equal(r.view().terminal, true);
    // The whole process group got SIGTERM: sh reports its sleep child as Terminated, then runs its trap.
    assert.match(readFileSync(join(dir, 'logs', 'c', '0.log'), 'utf8'), /^hello\n(Terminated\n)?bye\n$/);
  });

  it('restarts an exited container at once, then waits in CrashLoopBackOff for 10 s', async () => {
    const { r, clock } = runner('exit 3');
    r.start();
    const waiting = await until(r, (c) => c.state.kind === 'waiting' && c.state.reason === 'CrashLoopBackOff');
    assert.equal(waiting.restartCount, 1, 'the first restart is immediate');
    assert.equal(waiting.lastState?.exitCode, 3);
    assert.match(
      waiting.state.kind === 'waiting' ? (waiting.state.message ?? '') : '',
      /^back-off 10s restarting failed container=c pod=p_ns\(/,
    );
    await clock.advance(10_000);
    const next = await until(r, (c) => c.restartCount === 2 && c.state.kind === 'waiting');
    assert.match(next.state.kind === 'waiting' ? (next.state.message ?? '') : '', /^back-off 20s/);
    await r.terminate(1_000);
  });

  it('leaves a container that exited under restartPolicy Never terminated', async () => {
    const { r } = runner('exit 2', { restartPolicy: 'Never' });
    r.start();
    const done = await until(r, (c) => c.state.kind === 'terminated');
    assert.deepEqual([done.state.kind === 'terminated' && done.state.exitCode, done.restartCount], [2, 0]);
  });

  it('waits in ContainerCreating while a ConfigMap volume is missing, then starts the container', async () => {
    let configMaps = new Map<string, Record<string, Buffer>>();
    const { r, clock } = runner(
      'cat /etc/app/greeting; sleep 5',
      { volumes: [{ name: 'app', configMap: { name: 'app' } }] },
      { volumeMounts: [{ name: 'app', mountPath: '/etc/app' }] },
      async () => ({ configMaps, secrets: new Map() }),
    );
    r.start();
    const waiting = await until(r, (c) => c.state.kind === 'waiting' && (c.state.message ?? '').includes('not found'));
    assert.equal(waiting.state.kind === 'waiting' && waiting.state.reason, 'ContainerCreating');
    configMaps = new Map([['app', { greeting: Buffer.from('hi') }]]);
    await clock.advance(5_000);
    await until(r, (c) => c.state.kind === 'running');
    await r.terminate(1_000);
  });

  it('kills a container whose liveness probe fails, and restarts it', async () => {
    // The probe fails while the marker exists; a new instance removes it when it starts.
    const marker = join(mkdtempSync(join(tmpdir(), 'weir-liveness-')), 'dead');
    const { r, clock } = runner(
      `rm -f ${marker}; trap "exit 0" TERM; while true; do sleep 0.05; done`,
      {},
      {
        livenessProbe: {
          exec: { command: ['sh', '-c', `test ! -e ${marker}`] },
          periodSeconds: 1,
          failureThreshold: 2,
        },
      },
    );
    r.start();
    await until(r, (c) => c.state.kind === 'running');
    writeFileSync(marker, '');
    const deadline = Date.now() + 5_000;
    while (r.view().containers[0]!.restartCount === 0 && Date.now() < deadline) {
      await clock.advance(1_000);
      await sleep(50);
    }
    const restarted = await until(r, (c) => c.restartCount === 1 && c.state.kind === 'running');
    assert.match(restarted.lastState?.message ?? '', /failed liveness probe, will be restarted: command exited with 1/);
    await r.terminate(1_000);
  });
});
