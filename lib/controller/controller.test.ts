import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { FakeClock } from '../clock/clock.ts';
import { Controller, type EventSource } from './controller.ts';
import { createControllerMetrics } from './controller-metrics.ts';
import { Errors, weirError } from '../errors/errors.ts';
import { type ReconcileRequest, type ReconcileResult } from './reconcile.ts';

/** Resolves once `check` holds, letting queued promise work run in between. */
async function eventually(check: () => boolean, turns = 200): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (check()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail('condition never held');
}

function harness(
  reconcile: (req: ReconcileRequest, signal: AbortSignal) => Promise<ReconcileResult | void>,
  concurrency = 2,
) {
  const clock = new FakeClock({ now: 0 });
  const registry = new Registry();
  const controller = new Controller({
    name: 'test',
    reconciler: { reconcile },
    concurrency,
    clock,
    metrics: createControllerMetrics(registry),
  });
  const running = controller.start();
  return { clock, registry, controller, running };
}

describe('Controller', () => {
  it('reconciles a namespaced key with its namespace and name', async () => {
    const seen: ReconcileRequest[] = [];
    const { controller } = harness(async (req) => void seen.push(req));
    controller.queue.add('tenant-a/clicks');
    await eventually(() => seen.length === 1);
    assert.deepEqual(seen[0], { key: 'tenant-a/clicks', namespace: 'tenant-a', name: 'clicks' });
    await controller.stop();
  });

  it('never runs two reconciles of one key at once, and runs again for a change during a reconcile', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { controller } = harness(async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (calls === 1) await gate;
      running--;
    }, 4);
    controller.queue.add('a');
    await eventually(() => calls === 1);
    controller.queue.add('a');
    controller.queue.add('a');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(calls, 1, 'a second reconcile started while the first ran');
    release();
    await eventually(() => calls === 2);
    assert.equal(maxRunning, 1);
    await controller.stop();
  });

  it('retries a failing key with growing backoff and stops retrying once it succeeds', async () => {
    const attempts: number[] = [];
    const { controller, clock } = harness(async () => {
      attempts.push(clock.now());
      if (attempts.length < 4) throw new Error('backend down');
    });
    controller.queue.add('a');
    await eventually(() => attempts.length === 1);
    for (let i = 0; i < 10 && attempts.length < 4; i++) {
      await clock.advance(100);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(attempts.length, 4);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    assert.ok(gaps[0]! <= gaps[1]! && gaps[1]! <= gaps[2]!, `backoff did not grow: ${gaps.join(', ')}`);
    assert.equal(controller.queue.numRequeues('a'), 0, 'success did not reset the backoff');
    await controller.stop();
  });

  it('does not retry a terminal error', async () => {
    let calls = 0;
    const { controller, clock, registry } = harness(async () => {
      calls++;
      throw weirError(Errors.Terminal, 'spec.source.partitions decreased');
    });
    controller.queue.add('a');
    await eventually(() => calls === 1);
    await clock.advance(60_000);
    assert.equal(calls, 1);
    const text = await registry.metrics();
    assert.match(text, /controller_runtime_terminal_reconcile_errors_total\{controller="test"\} 1/);
    await controller.stop();
  });

  it('requeues after the asked delay and counts it as requeue_after', async () => {
    const times: number[] = [];
    const { controller, clock, registry } = harness(async () => {
      times.push(clock.now());
      return times.length === 1 ? { requeueAfterMs: 30_000 } : undefined;
    });
    controller.queue.add('a');
    await eventually(() => times.length === 1);
    await clock.advance(29_999);
    assert.equal(times.length, 1);
    await clock.advance(1);
    await eventually(() => times.length === 2);
    const text = await registry.metrics();
    assert.match(text, /controller_runtime_reconcile_total\{controller="test",result="requeue_after"\} 1/);
    assert.match(text, /controller_runtime_reconcile_total\{controller="test",result="success"\} 1/);
    await controller.stop();
  });

  it("aborts a running reconcile's signal when stopped and waits for it to finish", async () => {
    let signal: AbortSignal | undefined;
    let finished = false;
    const { controller } = harness(async (_req, s) => {
      signal = s;
      await new Promise((r) => setTimeout(r, 20));
      finished = true;
    });
    controller.queue.add('a');
    await eventually(() => signal !== undefined);
    assert.equal(signal?.aborted, false);
    await controller.stop();
    assert.equal(signal?.aborted, true);
    assert.equal(finished, true);
  });

  it('reconciles its own objects on changes beyond the status, and on every re-sync', async () => {
    type Obj = { metadata: Record<string, unknown>; status?: unknown };
    const handlers: Record<string, (obj: Obj, old?: Obj) => void> = {};
    let resync!: (obj: Obj) => void;
    const source: EventSource<Obj> = {
      on: (event, fn) => void (handlers[event] = fn),
      onResync: (fn) => void (resync = fn),
    };
    const seen: string[] = [];
    const { controller } = harness(async (req) => void seen.push(req.key));
    controller.watchPrimary(source);
    const base: Obj = {
      metadata: { name: 'a', generation: 1, resourceVersion: '1', labels: { x: '1' }, finalizers: ['f'] },
      status: { phase: 'Pending' },
    };
    const next = (metadata: Record<string, unknown>, status: unknown = base.status): Obj => ({
      metadata: { ...base.metadata, resourceVersion: '2', ...metadata },
      status,
    });

    handlers.update!(next({}, { phase: 'Ready' }), base);
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [], 'a status-only update was reconciled');

    const changes: Record<string, unknown>[] = [
      { generation: 2 },
      { labels: { x: '2' } },
      { annotations: { 'weir.dev/release-finalizer': 'true' } },
      { finalizers: [] },
      { deletionTimestamp: '2026-11-24T00:00:00Z' },
    ];
    const reconciled = async (change: () => void) => {
      const before = seen.length;
      change();
      await eventually(() => seen.length > before);
    };
    for (const change of changes) await reconciled(() => handlers.update!(next(change), base));
    await reconciled(() => resync(base));
    assert.deepEqual(new Set(seen), new Set(['a']));
    await controller.stop();
  });
});
