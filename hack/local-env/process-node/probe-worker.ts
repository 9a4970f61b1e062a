/**
 * Probes one container periodically and turns the outcomes into a result, with the
 * kubelet's thresholds and defaults: the first probe after `initialDelaySeconds`, then one
 * every `periodSeconds` (10); `failureThreshold` (3) failures in a row flip the result to
 * failed and `successThreshold` (1) successes in a row back. A readiness result starts as
 * failed (not ready until a probe succeeds), a liveness result as succeeded.
 */
import type { V1Probe } from '@kubernetes/client-node';
import type { Clock } from '../../../lib/clock/clock.ts';
import type { ProbeOutcome } from './probe-check.ts';

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

/** The probe's settings with the kubelet's defaults filled in, in milliseconds. */
export function probeTiming(probe: V1Probe): {
  initialDelayMs: number;
  periodMs: number;
  successThreshold: number;
  failureThreshold: number;
} {
  return {
    initialDelayMs: (probe.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, probe.periodSeconds ?? 10) * 1000,
    successThreshold: Math.max(1, probe.successThreshold ?? 1),
    failureThreshold: Math.max(1, probe.failureThreshold ?? 3),
  };
}

/** Options for {@link ProbeWorker}. */
export interface ProbeWorkerOptions {
  kind: ProbeKind;
  probe: V1Probe;
  clock: Clock;
  /** Makes one probe. */
  check: () => Promise<ProbeOutcome>;
  /** Called when the result flips, and when a startup probe gives up, with the last outcome. */
  onChange: (ok: boolean, outcome: ProbeOutcome) => void;
}

/** The probe loop of one container instance; a restarted container gets a new worker. */
export class ProbeWorker {
  readonly kind: ProbeKind;
  #o: ProbeWorkerOptions;
  #ok: boolean;
  #successes = 0;
  #failures = 0;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: ProbeWorkerOptions) {
    this.kind = options.kind;
    this.#o = options;
    this.#ok = options.kind === 'liveness';
  }

  /** The current result: ready, alive or started. */
  get ok(): boolean {
    return this.#ok;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops probing; resolves once a probe in flight has finished. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** Feeds one outcome through the thresholds; exported for the loop and for tests. */
  record(outcome: ProbeOutcome): void {
    const { successThreshold, failureThreshold } = probeTiming(this.#o.probe);
    if (outcome.ok) {
      this.#successes++;
      this.#failures = 0;
    } else {
      this.#failures++;
      this.#successes = 0;
    }
    // Liveness and startup probes must have a success threshold of 1 (the API enforces it).
    const flipToOk = !this.#ok && outcome.ok && this.#successes >= (this.kind === 'readiness' ? successThreshold : 1);
    const flipToFailed = this.#ok && !outcome.ok && this.#failures >= failureThreshold;
    // A startup probe also fails for good when it never succeeded within its threshold.
    const startupGaveUp = this.kind === 'startup' && !this.#ok && !outcome.ok && this.#failures >= failureThreshold;
    if (flipToOk || flipToFailed) {
      this.#ok = !this.#ok;
      this.#o.onChange(this.#ok, outcome);
    } else if (startupGaveUp) {
      this.#o.onChange(false, outcome);
    }
  }

  async #run(): Promise<void> {
    const { initialDelayMs, periodMs } = probeTiming(this.#o.probe);
    const signal = this.#stop.signal;
    const clock = this.#o.clock;
    try {
      await clock.sleep(initialDelayMs, signal);
      while (!signal.aborted) {
        const started = clock.now();
        const outcome = await this.#o.check();
        if (signal.aborted) return;
        this.record(outcome);
        await clock.sleep(Math.max(0, periodMs - (clock.now() - started)), signal);
      }
    } catch {
      // Aborted while sleeping.
    }
  }
}
