import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { Errors, weirError } from '../errors/errors.ts';
import {
  LeaderElector,
  type LeaderElectionClock,
  type LeaderElectorOptions,
  type Lease,
  type LeaseClient,
  type LeaseSpec,
} from './leader-election.ts';
import { createLeaderElectionMetrics } from './leader-election-metrics.ts';

/** A clock that moves only in advance(), firing due sleeps in order. */
class ManualClock implements LeaderElectionClock {
  #now = Date.parse('2030-01-01T00:00:00Z');
  #monotonic = 0;
  #sleeps = new Set<{ at: number; wake: () => void }>();

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#monotonic;
  }

  /** Sets the wall clock, as an administrator or NTP might; sleeps and the monotonic clock are not affected. */
  setWallClock(ms: number): void {
    this.#sleeps.forEach((s) => (s.at += ms - this.#now));
    this.#now = ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const entry = { at: this.#now + ms, wake: () => resolve() };
      this.#sleeps.add(entry);
      signal?.addEventListener('abort', () => this.#sleeps.delete(entry) && reject(signal.reason), { once: true });
    });
  }

  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await nextMacrotask();
    for (;;) {
      const due = [...this.#sleeps].filter((s) => s.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#sleeps.delete(due);
      this.#monotonic += due.at - this.#now;
      this.#now = due.at;
      due.wake();
      await nextMacrotask();
    }
    this.#monotonic += target - this.#now;
    this.#now = target;
  }
}

/** The Lease calls of an API server, with its resourceVersion checks, in memory. */
class FakeLeaseApi implements LeaseClient {
  lease: Lease | undefined;
  /** Every call fails, as when the API server cannot be reached. */
  failing = false;
  /** Runs before a replace is applied, to let a rival write first. */
  beforeReplace: (() => void) | undefined;
  #version = 0;

  async read<T>(): Promise<T | undefined> {
    if (this.failing) throw new Error('connection refused');
    return this.lease && (wire(this.lease) as T);
  }

  async create<T>(body: T): Promise<T> {
    if (this.failing) throw new Error('connection refused');
    if (this.lease) throw conflict('already exists');
    return this.#store(body as Lease) as T;
  }

  async replace<T>(body: T): Promise<T> {
    if (this.failing) throw new Error('connection refused');
    this.beforeReplace?.();
    // Like the API server, a replace without a resourceVersion overwrites unconditionally.
    const version = (body as Lease).metadata?.resourceVersion;
    if (version !== undefined && version !== this.lease?.metadata?.resourceVersion) {
      throw conflict('the object has been modified');
    }
    return this.#store(body as Lease) as T;
  }

  /** Writes the Lease as another process would. */
  put(spec: LeaseSpec): void {
    this.#store({ metadata: { name: 'weir', namespace: 'default' }, spec });
  }

  #store(body: Lease): Lease {
    this.lease = wire({ ...body, metadata: { ...body.metadata, resourceVersion: String(++this.#version) } });
    return wire(this.lease);
  }
}

/** A round trip through JSON, as every object takes to and from the API server. */
function wire(lease: Lease): Lease {
  return JSON.parse(JSON.stringify(lease)) as Lease;
}

function conflict(message: string): Error {
  return weirError(Errors.KubernetesRequestFailed, message, { details: { statusCode: 409 } });
}

function setup(overrides: Partial<LeaderElectorOptions> = {}, api = new FakeLeaseApi(), clock = new ManualClock()) {
  const events: string[] = [];
  const signals: AbortSignal[] = [];
  const registry = new Registry();
  const elector = new LeaderElector({
    client: api,
    clock,
    namespace: 'default',
    name: 'weir',
    identity: 'me',
    metrics: createLeaderElectionMetrics(registry),
    onStartedLeading: (signal) => {
      signals.push(signal);
      events.push(`started@${clock.now()}`);
    },
    onStoppedLeading: () => events.push(`stopped@${clock.now()}`),
    onNewLeader: (identity) => events.push(`leader ${identity}`),
    ...overrides,
  });
  const status = async () => (await registry.getSingleMetric('leader_election_master_status')!.get()).values[0]?.value;
  return { api, clock, elector, events, signals, status, leading: () => events.some((e) => e.startsWith('started')) };
}

const held = (holderIdentity: string, renewTime: string): LeaseSpec => ({
  holderIdentity,
  leaseDurationSeconds: 15,
  leaseTransitions: 3,
  acquireTime: renewTime,
  renewTime,
});

describe('LeaderElector', () => {
  const client = new FakeLeaseApi();
  const base = {
    client,
    namespace: 'default',
    name: 'weir',
    identity: 'me',
    onStartedLeading() {},
    onStoppedLeading() {},
  };
  for (const [name, options, error] of [
    [
      'rejects a lease duration not above the renew deadline',
      { leaseDurationMs: 10_000 },
      /leaseDurationMs must be greater than renewDeadlineMs/,
    ],
    [
      'rejects a renew deadline within the jittered retry period',
      { renewDeadlineMs: 2_400 },
      /renewDeadlineMs must be greater than retryPeriodMs\*1.2/,
    ],
    ['rejects a retry period of zero', { retryPeriodMs: 0 }, /retryPeriodMs must be greater than zero/],
    ['rejects a negative renew deadline', { renewDeadlineMs: -1 }, /renewDeadlineMs must be greater than zero/],
    [
      'rejects a lease shorter than the one second a Lease can record',
      { leaseDurationMs: 900, renewDeadlineMs: 500, retryPeriodMs: 100 },
      /at least 1000/,
    ],
    ['rejects an empty identity', { identity: '' }, /identity must not be empty/],
  ] as const) {
    it(name, () => assert.throws(() => new LeaderElector({ ...base, ...options }), error));
  }

  it('accepts client-go defaults', () => {
    const elector = new LeaderElector(base);
    assert.deepEqual(
      [elector.leaseDurationMs, elector.renewDeadlineMs, elector.retryPeriodMs],
      [15_000, 10_000, 2_000],
    );
  });

  it('creates and leads a lease nobody holds', async () => {
    const { api, clock, elector, events, status } = setup();
    void elector.run();
    await clock.advance(0);
    assert.deepEqual(events, ['leader me', `started@${clock.now()}`]);
    assert.equal(api.lease?.spec?.holderIdentity, 'me');
    assert.equal(api.lease?.spec?.leaseDurationSeconds, 15);
    assert.equal(api.lease?.spec?.leaseTransitions, 0);
    assert.equal(await status(), 1);
  });

  it('takes a released lease at once and counts the transition', async () => {
    const { api, clock, elector, leading } = setup();
    api.put({ ...held('', '2029-12-31T23:59:59Z'), leaseDurationSeconds: 1 });
    void elector.run();
    await clock.advance(0);
    assert.ok(leading());
    assert.equal(api.lease?.spec?.leaseTransitions, 4);
  });

  for (const [when, renewTime] of [
    ['years in the past', '2020-01-01T00:00:00Z'],
    ['years in the future', '2040-01-01T00:00:00Z'],
  ] as const) {
    it(`waits a lease duration of its own clock for a lease renewed ${when}`, async () => {
      const { api, clock, elector, events, leading } = setup();
      api.put(held('other', renewTime));
      void elector.run();
      await clock.advance(14_900);
      assert.ok(!leading(), 'took the lease before observing it unchanged for 15s');
      assert.deepEqual(events, ['leader other']);
      // Tries come every 2s to 4.4s, so one falls in the 4.4s after the lease expires.
      await clock.advance(2 * 2_000 * 2.2);
      assert.ok(leading());
      assert.equal(api.lease?.spec?.holderIdentity, 'me');
      assert.equal(api.lease?.spec?.leaseTransitions, 4);
    });
  }

  it('does not take a lease whose holder keeps renewing it', async () => {
    const { api, clock, elector, leading } = setup();
    for (let s = 0; s < 60; s += 10) {
      api.put(held('other', new Date(clock.now()).toISOString()));
      if (s === 0) void elector.run();
      await clock.advance(10_000);
    }
    assert.ok(!leading());
    await clock.advance(15_000 + 2_000 * 2.2);
    assert.ok(leading(), 'took over once the holder stopped renewing');
  });

  it('gives leadership up when renewals fail for the renew deadline', async () => {
    const { api, clock, elector, events, signals, status } = setup();
    const done = elector.run();
    await clock.advance(4_000);
    const lastRenewal = Date.parse(String(api.lease?.spec?.renewTime));
    api.failing = true;
    await clock.advance(9_000);
    assert.ok(!signals[0]?.aborted, 'gave up before the renew deadline');
    await clock.advance(4_000);
    assert.equal(signals[0]?.aborted, true);
    await done;
    const stoppedAt = Number(events.at(-1)?.replace('stopped@', ''));
    assert.ok(
      stoppedAt - lastRenewal >= 10_000 && stoppedAt - lastRenewal <= 12_000,
      `stopped ${stoppedAt - lastRenewal}ms after the last renewal`,
    );
    assert.equal(await status(), 0);
    assert.equal(api.lease?.spec?.holderIdentity, 'me', 'released a lease it could not reach');
  });

  it('gives leadership up when a renewal hangs past the renew deadline', async () => {
    const { api, clock, elector, signals } = setup();
    void elector.run();
    await clock.advance(0);
    api.replace = () => new Promise(() => {});
    await clock.advance(2_000 + 10_000);
    assert.equal(signals[0]?.aborted, true);
  });

  it('keeps its lease when the wall clock is set back or forward, since expiry is measured on the monotonic clock', async () => {
    const { api, clock, elector, leading } = setup();
    const rival = setup({ identity: 'rival' }, api, clock);
    void elector.run();
    await clock.advance(0);
    assert.equal(leading(), true);
    void rival.elector.run();
    // An hour forward: a rival measuring expiry on the wall clock would take over at once.
    clock.setWallClock(clock.now() + 3_600_000);
    await clock.advance(5_000);
    clock.setWallClock(clock.now() - 7_200_000);
    await clock.advance(5_000);
    assert.equal(rival.leading(), false, 'the rival saw the lease renewed and did not take it over');
    assert.equal(api.lease?.spec?.holderIdentity, 'me');
  });

  it('takes over a lease whose holder stopped renewing once it saw the record unchanged for the lease duration, whatever the wall clock says', async () => {
    const { api, clock, elector, leading } = setup();
    api.put(held('gone', new Date(clock.now() + 86_400_000).toISOString()));
    void elector.run();
    await clock.advance(14_000);
    assert.equal(leading(), false, 'not before the lease duration passed on the monotonic clock');
    await clock.advance(6_000);
    assert.equal(leading(), true);
  });

  it('loses the race for a free lease to a candidate that created it first', async () => {
    const api = new FakeLeaseApi();
    const clock = new ManualClock();
    const a = setup({ identity: 'a' }, api, clock);
    const b = setup({ identity: 'b' }, api, clock);
    void a.elector.run();
    void b.elector.run();
    await clock.advance(30_000);
    assert.deepEqual([a.leading(), b.leading()], [true, false]);
    assert.deepEqual(b.events, ['leader a']);
  });

  it('treats a conflict while taking an expired lease as another candidate winning', async () => {
    const { api, clock, elector, events, leading } = setup();
    api.put(held('other', '2030-01-01T00:00:00Z'));
    api.beforeReplace = () => {
      api.beforeReplace = undefined;
      api.put(held('rival', new Date(clock.now()).toISOString()));
    };
    void elector.run();
    await clock.advance(15_000 + 2_000 * 2.2 + 1);
    assert.ok(!leading());
    assert.equal(api.lease?.spec?.holderIdentity, 'rival');
    await clock.advance(10_000);
    assert.deepEqual(events, ['leader other', 'leader rival']);
  });

  it('steps down at once when another candidate has overwritten its lease', async () => {
    const { api, clock, elector, events, signals } = setup();
    void elector.run();
    await clock.advance(0);
    api.put(held('rival', new Date(clock.now()).toISOString()));
    await clock.advance(2_000);
    assert.equal(signals[0]?.aborted, true);
    assert.deepEqual(events.slice(2), ['leader rival', `stopped@${clock.now()}`]);
  });

  it('stop() ends the work, then releases the lease for a successor to take at once', async () => {
    const api = new FakeLeaseApi();
    const clock = new ManualClock();
    const order: string[] = [];
    const first = setup(
      {
        onStartedLeading: async (signal) => {
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          await clock.sleep(500); // in-flight work finishing
          order.push('work done');
        },
        onStoppedLeading: () => order.push(`stopped, holder "${api.lease?.spec?.holderIdentity}"`),
      },
      api,
      clock,
    );
    void first.elector.run();
    await clock.advance(6_000);
    const stopped = first.elector.stop();
    await clock.advance(500);
    await stopped;
    assert.deepEqual(order, ['work done', 'stopped, holder ""']);
    assert.equal(api.lease?.spec?.leaseDurationSeconds, 1);
    const second = setup({ identity: 'successor' }, api, clock);
    void second.elector.run();
    await clock.advance(0);
    assert.ok(second.leading());
    assert.equal(api.lease?.spec?.leaseTransitions, 1);
  });

  it('stop() before leading leaves the lease alone and does not report stopped leading', async () => {
    const { api, clock, elector, events } = setup();
    api.put(held('other', '2030-01-01T00:00:00Z'));
    void elector.run();
    await clock.advance(5_000);
    await elector.stop();
    assert.equal(api.lease?.spec?.holderIdentity, 'other');
    assert.deepEqual(events, ['leader other']);
  });
});
