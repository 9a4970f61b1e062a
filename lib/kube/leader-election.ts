/**
 * Lease-based leader election with the semantics of client-go's
 * k8s.io/client-go/tools/leaderelection, so that replicas of Weir's operator hand over
 * leadership the way Kubernetes' own controllers do.
 *
 * A candidate trusts only its own monotonic clock: a Lease held by another is taken over
 * once this process has seen its record unchanged for the record's leaseDurationSeconds,
 * so a wall clock set back or forward neither extends nor shortens anyone's lease. The
 * renewTime written by the holder only tells that the record changed, so clock skew
 * between nodes does not matter (skew *rate* does: keep leaseDuration / renewDeadline
 * above the drift you expect). Every write replaces the Lease at the resourceVersion last
 * read, so of two candidates racing for an expired Lease only one can win. Like client-go
 * this is not fencing: a leader cut off from the API server keeps running until its
 * renew deadline passes, which is why the operator exits when leadership is lost.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../clock/clock.ts';
import { silentLogger, type Logger } from '../observability/logger.ts';
import { statusCode, type KubeClient } from './kube-client.ts';
import type { LeaderElectionMetrics } from './leader-election-metrics.ts';

/** client-go's JitterFactor: candidates wait retryPeriod plus up to 1.2 times it between tries. */
export const JITTER_FACTOR = 1.2;

/** The time source of an elector: the wall clock for what it writes, the monotonic clock for expiry, and sleeps. */
export type LeaderElectionClock = Pick<Clock, 'now' | 'monotonic' | 'sleep'>;

/** The election record of a Lease (coordination.k8s.io/v1), times as MicroTime strings. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** A Lease as the API server stores it. */
export interface Lease extends KubernetesObject {
  spec?: LeaseSpec;
}

/** The part of the API client an elector calls. */
export type LeaseClient = Pick<KubeClient, 'read' | 'create' | 'replace'>;

/** A MicroTime (RFC 3339 with microseconds), as Leases record times. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** Options for {@link LeaderElector}; durations default to client-go's 15s / 10s / 2s. */
export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  /** Name of the Lease the candidates compete for. */
  name: string;
  /** Unique to this process (pod name plus a random suffix): a candidate that finds its own identity in the Lease resumes leading at once. */
  identity: string;
  /** How long candidates wait, after last seeing the Lease change, before taking it over. */
  leaseDurationMs?: number;
  /** How long the leader keeps retrying a failed renewal before it gives leadership up. */
  renewDeadlineMs?: number;
  /** Pause between tries to acquire or renew. */
  retryPeriodMs?: number;
  clock?: LeaderElectionClock;
  log?: Logger;
  /**
   * Starts the work the lease guards; `signal` aborts when leadership ends. A returned
   * promise must settle soon after that: stop() waits for it before releasing the Lease.
   * A rejection while still leading stops the elector, so a broken leader steps aside.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called once when leadership ends, lost or stopped; the operator exits here. Not called if this process never led. */
  onStoppedLeading(): void;
  /** Called with the identity of each holder this process sees, itself included. */
  onNewLeader?(identity: string): void;
  metrics?: LeaderElectionMetrics;
}

/** A candidate for leadership of one Lease. Call run() once; stop() ends it. */
export class LeaderElector {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  #client: LeaseClient;
  #clock: LeaderElectionClock;
  #log: Logger;
  #options: LeaderElectorOptions;
  #stop = new AbortController();
  #running: Promise<void> | undefined;
  /** The Lease as last read or written; its resourceVersion guards the next replace. */
  #lease: Lease | undefined;
  #observedRecord = '';
  /** When, by the local monotonic clock, the record last changed. */
  #observedAt = 0;
  #reportedLeader = '';

  constructor(options: LeaderElectorOptions) {
    this.namespace = options.namespace;
    this.name = options.name;
    this.identity = options.identity;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    validate(this, options);
    this.#client = options.client;
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.log ?? silentLogger()).child({
      lease: `${this.namespace}/${this.name}`,
      identity: this.identity,
    });
    this.#options = options;
    options.metrics?.setLeading(this.name, false);
  }

  /** The holder this process last saw in the Lease; empty before the first read or after a release. */
  get leader(): string {
    return this.#lease?.spec?.holderIdentity ?? '';
  }

  /** Whether the Lease, as last seen, names this process. */
  get isLeader(): boolean {
    return this.leader === this.identity;
  }

  /** Campaigns, leads, and resolves once leadership is lost or stop() was called. */
  run(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /**
   * Ends the election. A leader aborts its work, waits for onStartedLeading's promise,
   * then releases the Lease so that a successor need not wait for it to expire.
   */
  stop(): Promise<void> {
    this.#stop.abort(new Error('leader election stopped'));
    return this.#running ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    if (!(await this.#acquire(stop))) return;
    const leading = new AbortController();
    this.#options.metrics?.setLeading(this.name, true);
    const work = Promise.resolve()
      .then(() => this.#options.onStartedLeading(leading.signal))
      .catch((err: unknown) => {
        this.#log.error({ err }, 'onStartedLeading failed');
        if (!leading.signal.aborted) void this.stop();
      });
    const lost = await this.#renew(stop);
    this.#options.metrics?.setLeading(this.name, false);
    leading.abort(new Error(lost ? 'leadership lost' : 'leader election stopped'));
    if (!lost) {
      await work;
      await this.#release();
    }
    this.#options.onStoppedLeading();
  }

  async #acquire(stop: AbortSignal): Promise<boolean> {
    this.#log.info('attempting to acquire the leader lease');
    while (!stop.aborted) {
      const acquired = await untilAborted(this.#tryAcquireOrRenew(stop), stop);
      this.#reportLeader();
      if (acquired) {
        this.#log.info('acquired the leader lease');
        return true;
      }
      await this.#sleep(this.retryPeriodMs * (1 + Math.random() * JITTER_FACTOR), stop);
    }
    return false;
  }

  /** Renews until stopped (false) or until a renewal deadline passes without success (true). */
  async #renew(stop: AbortSignal): Promise<boolean> {
    while (!stop.aborted) {
      if (!(await this.#renewBeforeDeadline(stop))) return !stop.aborted;
      await this.#sleep(this.retryPeriodMs, stop);
    }
    return false;
  }

  async #renewBeforeDeadline(stop: AbortSignal): Promise<boolean> {
    const timer = new AbortController();
    const signal = AbortSignal.any([stop, timedSignal(this.#clock, this.renewDeadlineMs, timer.signal)]);
    try {
      while (!signal.aborted) {
        const renewed = await untilAborted(this.#tryAcquireOrRenew(signal), signal);
        this.#reportLeader();
        if (renewed) return true;
        // client-go keeps polling until the deadline, which cannot succeed once another holds the lease.
        if (!this.isLeader) {
          this.#log.error({ holder: this.leader }, 'leadership lost: another candidate holds the lease');
          return false;
        }
        await this.#sleep(this.retryPeriodMs, signal);
      }
      if (!stop.aborted)
        this.#log.error({ renewDeadlineMs: this.renewDeadlineMs }, 'leadership lost: lease not renewed in time');
      return false;
    } finally {
      timer.abort();
    }
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = this.#clock.now();
    const options = { signal };
    const ref = this.#ref();
    // Fast path: a leader writes over the Lease it last saw; the resourceVersion catches any change since.
    if (this.#lease && this.isLeader && this.#leaseValid()) {
      const spec = this.#spec(now, this.#lease.spec?.acquireTime, this.#lease.spec?.leaseTransitions ?? 0);
      try {
        this.#observe(await this.#client.replace<Lease>({ ...this.#lease, spec }, options), true);
        return !signal.aborted;
      } catch (err) {
        this.#log.debug({ err: describe(err) }, 'optimistic renewal failed; reading the lease');
      }
    }
    let current: Lease | undefined;
    try {
      current = await this.#client.read<Lease>(ref, options);
    } catch (err) {
      this.#log.warn({ err: describe(err) }, 'cannot read the lease');
      return false;
    }
    if (!current) {
      try {
        const body: Lease = { ...ref, spec: this.#spec(now, microTime(now), 0) };
        this.#observe(await this.#client.create<Lease>(body, options), true);
        return !signal.aborted;
      } catch (createErr) {
        this.#log.info({ err: describe(createErr) }, 'cannot create the lease');
        return false;
      }
    }
    if (signal.aborted) return false;
    this.#observe(current, false);
    if (this.leader !== '' && !this.isLeader && this.#leaseValid()) return false;
    const transitions = current.spec?.leaseTransitions ?? 0;
    const spec = this.isLeader
      ? this.#spec(now, current.spec?.acquireTime, transitions)
      : this.#spec(now, microTime(now), transitions + 1);
    try {
      this.#observe(await this.#client.replace<Lease>({ ...current, spec }, options), true);
      return !signal.aborted;
    } catch (err) {
      // 409: the Lease changed since it was read, most likely because another candidate won.
      const level = statusCode(err) === 409 ? 'info' : 'warn';
      this.#log[level]({ err: describe(err) }, 'cannot update the lease');
      return false;
    }
  }

  #ref() {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { namespace: this.namespace, name: this.name },
    };
  }

  /** Gives the Lease up, re-reading it first so that only our own record is overwritten. */
  async #release(): Promise<void> {
    const timer = new AbortController();
    const signal = timedSignal(this.#clock, this.renewDeadlineMs, timer.signal);
    try {
      const current = await this.#client.read<Lease>(this.#ref(), { signal });
      if (!current?.spec || current.spec.holderIdentity !== this.identity) return;
      const now = microTime(this.#clock.now());
      // leaseDurationSeconds 1, as client-go writes, for candidates that ignore an empty holder.
      const spec: LeaseSpec = {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: current.spec.leaseTransitions ?? 0,
      };
      this.#observe(await this.#client.replace<Lease>({ ...current, spec }, { signal }), true);
      this.#log.info('released the leader lease');
    } catch (err) {
      this.#log.warn({ err: describe(err) }, 'cannot release the lease; it expires on its own');
    } finally {
      timer.abort();
    }
  }

  #spec(now: number, acquireTime: string | undefined, leaseTransitions: number): LeaseSpec {
    const leaseDurationSeconds = Math.floor(this.leaseDurationMs / 1000);
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds,
      acquireTime,
      renewTime: microTime(now),
      leaseTransitions,
    };
  }

  /** Remembers the Lease; the local clock starts anew only when its record changed (or we wrote it). */
  #observe(lease: Lease, written: boolean): void {
    this.#lease = lease;
    const record = recordOf(lease.spec);
    if (written || record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = this.#clock.monotonic();
    }
  }

  #leaseValid(): boolean {
    return this.#observedAt + (this.#lease?.spec?.leaseDurationSeconds ?? 0) * 1000 > this.#clock.monotonic();
  }

  #reportLeader(): void {
    const leader = this.leader;
    if (leader === '' || leader === this.#reportedLeader) return;
    this.#reportedLeader = leader;
    this.#log.info({ leader }, 'new leader observed');
    try {
      this.#options.onNewLeader?.(leader);
    } catch (err) {
      this.#log.error({ err }, 'onNewLeader failed');
    }
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await this.#clock.sleep(ms, signal);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}

function validate(elector: LeaderElector, options: LeaderElectorOptions): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = elector;
  for (const [key, value] of Object.entries({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })) {
    if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${key} must be greater than zero`);
  }
  if (leaseDurationMs <= renewDeadlineMs) throw new RangeError('leaseDurationMs must be greater than renewDeadlineMs');
  if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs)
    throw new RangeError(`renewDeadlineMs must be greater than retryPeriodMs*${JITTER_FACTOR}`);
  // The Lease records whole seconds; a record of 0 would let every candidate take over at once.
  if (leaseDurationMs < 1000) throw new RangeError('leaseDurationMs must be at least 1000');
  for (const key of ['namespace', 'name', 'identity'] as const) {
    if (!options[key]) throw new TypeError(`${key} must not be empty`);
  }
  if (typeof options.onStartedLeading !== 'function' || typeof options.onStoppedLeading !== 'function') {
    throw new TypeError('onStartedLeading and onStoppedLeading are required');
  }
}

/** The election record of a Lease as comparable text. */
function recordOf(spec: LeaseSpec | undefined): string {
  return JSON.stringify([
    spec?.holderIdentity ?? '',
    spec?.leaseDurationSeconds ?? 0,
    spec?.leaseTransitions ?? 0,
    spec?.acquireTime ?? '',
    spec?.renewTime ?? '',
  ]);
}

/** A signal that aborts after `ms` on `clock`; aborting `cancel` clears the timer. */
function timedSignal(clock: LeaderElectionClock, ms: number, cancel: AbortSignal): AbortSignal {
  const controller = new AbortController();
  clock.sleep(ms, cancel).then(
    () => controller.abort(new Error(`timed out after ${ms}ms`)),
    () => {},
  );
  return controller.signal;
}

/** Settles with `promise`, or with false once `signal` aborts, so a hung request cannot outlast a deadline. */
function untilAborted(promise: Promise<boolean>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A one-line description of an API error. */
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
