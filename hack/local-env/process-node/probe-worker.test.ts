import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { FakeClock } from '../../../lib/clock/clock.ts';
import { resolvePort, runProbe } from './probe-check.ts';
import { ProbeWorker, type ProbeKind } from './probe-worker.ts';
import type { V1Probe } from '@kubernetes/client-node';

/** A worker whose probe answers what `answers` holds at the time, counting the probes made. */
function worker(kind: ProbeKind, probe: V1Probe = {}) {
  const clock = new FakeClock();
  const state = { answer: true, probes: 0, changes: [] as boolean[] };
  const w = new ProbeWorker({
    kind,
    probe,
    clock,
    check: async () => {
      state.probes++;
      return state.answer ? { ok: true } : { ok: false, message: 'HTTP probe failed with statuscode: 503' };
    },
    onChange: (ok) => state.changes.push(ok),
  });
  return { clock, state, w };
}

describe('a probe worker', () => {
  it('starts a readiness result as not ready and makes it ready on the first success', async () => {
    const { clock, state, w } = worker('readiness');
    assert.equal(w.ok, false);
    w.start();
    await clock.advance(0);
    assert.equal(w.ok, true);
    assert.deepEqual(state.changes, [true]);
    await w.stop();
  });

  it('probes every 10 s unless told otherwise, after the initial delay', async () => {
    const { clock, state, w } = worker('readiness', { initialDelaySeconds: 5 });
    w.start();
    await clock.advance(4_999);
    assert.equal(state.probes, 0);
    await clock.advance(1);
    assert.equal(state.probes, 1);
    await clock.advance(30_000);
    assert.equal(state.probes, 4);
    await w.stop();
    assert.equal(clock.pendingTimers, 0);
  });

  it('turns unready only after failureThreshold failures in a row (3 unless told otherwise)', async () => {
    const { clock, state, w } = worker('readiness');
    w.start();
    await clock.advance(0);
    state.answer = false;
    await clock.advance(20_000);
    assert.equal(w.ok, true, 'two failures are not enough');
    await clock.advance(10_000);
    assert.equal(w.ok, false);
    assert.deepEqual(state.changes, [true, false]);
    await w.stop();
  });

  it('needs successThreshold successes in a row to become ready again', () => {
    const { w, state } = worker('readiness', { successThreshold: 2, failureThreshold: 1 });
    w.record({ ok: true });
    assert.equal(w.ok, false);
    w.record({ ok: true });
    assert.equal(w.ok, true);
    w.record({ ok: false });
    assert.equal(w.ok, false);
    w.record({ ok: true });
    w.record({ ok: false });
    w.record({ ok: true });
    assert.equal(w.ok, false, 'successes were not in a row');
    assert.deepEqual(state.changes, [true, false]);
  });

  it('starts a liveness result as alive and reports it dead after the threshold', () => {
    const { w, state } = worker('liveness', { failureThreshold: 2 });
    assert.equal(w.ok, true);
    w.record({ ok: false });
    w.record({ ok: false });
    assert.equal(w.ok, false);
    assert.deepEqual(state.changes, [false]);
  });

  it('reports a startup probe that never succeeded within its threshold', () => {
    const { w, state } = worker('startup', { failureThreshold: 2 });
    w.record({ ok: false });
    assert.deepEqual(state.changes, []);
    w.record({ ok: false });
    assert.deepEqual(state.changes, [false]);
  });
});

describe('a probe', () => {
  it('resolves a named port through the container ports', () => {
    const container = { name: 'processor', ports: [{ name: 'metrics', containerPort: 9090 }] };
    assert.equal(resolvePort('metrics', container), 9090);
    assert.equal(resolvePort(8080, container), 8080);
    assert.equal(resolvePort('8081', container), 8081);
    assert.throws(() => resolvePort('admin', container), /port "admin" is not a named port of container processor/);
  });

  it('succeeds on 2xx and 3xx, fails on other statuses and refused connections, over the pod IP', async () => {
    let status = 200;
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/readyz' ? status : 404);
      res.end('not ready');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const container = { name: 'c', ports: [{ name: 'metrics', containerPort: port }] };
    const probe = { httpGet: { path: '/readyz', port: 'metrics' } } as V1Probe;
    try {
      assert.deepEqual(await runProbe(probe, { podIP: '127.0.0.1', container }), { ok: true });
      status = 302;
      assert.deepEqual(await runProbe(probe, { podIP: '127.0.0.1', container }), { ok: true });
      status = 503;
      assert.deepEqual(await runProbe(probe, { podIP: '127.0.0.1', container }), {
        ok: false,
        message: 'HTTP probe failed with statuscode: 503 (not ready)',
      });
      assert.equal((await runProbe({ tcpSocket: { port } } as V1Probe, { podIP: '127.0.0.1', container })).ok, true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const refused = await runProbe(probe, { podIP: '127.0.0.1', container });
    assert.equal(refused.ok, false);
    assert.match(refused.message ?? '', /ECONNREFUSED/);
  });

  it('runs exec probes with the container environment', async () => {
    const target = {
      podIP: '127.0.0.1',
      container: { name: 'c' },
      exec: { env: { ...process.env, ANSWER: '42' }, cwd: process.cwd() },
    };
    assert.deepEqual(await runProbe({ exec: { command: ['sh', '-c', 'test "$ANSWER" = 42'] } }, target), { ok: true });
    assert.deepEqual(await runProbe({ exec: { command: ['sh', '-c', 'echo nope; exit 3'] } }, target), {
      ok: false,
      message: 'command exited with 3: nope',
    });
  });
});
