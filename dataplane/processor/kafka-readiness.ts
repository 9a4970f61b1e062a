/**
 * Whether the processor could do its work right now: Kafka answers and the pipeline's
 * topics exist. Asked again every few seconds, so that /readyz follows a broker outage
 * and its end, and the Deployment reports the processor unavailable meanwhile.
 */
import { pino, type Logger } from 'pino';
import type { TopicAdmin } from '../../lib/kafka/topic-admin.ts';
import { systemClock, type Clock } from '../../lib/clock/clock.ts';

/** What one check found. */
export type CheckResult = 'ok' | 'missing_topics' | 'unreachable';

/** Options for {@link KafkaReadiness}. */
export interface KafkaReadinessOptions {
  /** Only `describe` is used: the processor never creates or changes topics. */
  admin: Pick<TopicAdmin, 'describe'>;
  /** Topics that must exist. */
  topics: string[];
  /** Time between checks; 2 s unless given, well under the kubelet's default probe period of 10 s. */
  intervalMs?: number;
  clock?: Clock;
  log?: Logger;
  /** Called after every check, for metrics. */
  onResult?: (result: CheckResult) => void;
}

/** Checks Kafka in a loop until stopped; `ready` holds the last answer. */
export class KafkaReadiness {
  #o: Required<Omit<KafkaReadinessOptions, 'onResult'>> & Pick<KafkaReadinessOptions, 'onResult'>;
  #ready = false;
  #problem: string | undefined = 'Kafka has not been checked yet';
  #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: KafkaReadinessOptions) {
    this.#o = { intervalMs: 2_000, clock: systemClock, log: pino({ enabled: false }), ...options };
  }

  /** True while the last check found Kafka reachable and every topic there. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Why the processor is not ready, if it is not. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Checks now and then every interval until {@link stop}. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Ends the loop; `ready` turns false, as a stopping processor takes no more work. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#ready = false;
    this.#problem = 'shutting down';
    await this.#loop;
  }

  /** One check; resolves with what it found. */
  async check(): Promise<CheckResult> {
    let result: CheckResult;
    let problem: string | undefined;
    try {
      const found = await this.#o.admin.describe(this.#o.topics);
      const missing = this.#o.topics.filter((t) => !found.has(t));
      result = missing.length === 0 ? 'ok' : 'missing_topics';
      if (missing.length > 0) problem = `topics missing in Kafka: ${missing.join(', ')}`;
    } catch (err) {
      result = 'unreachable';
      problem = (err as Error).message;
    }
    if (this.#stop.signal.aborted) return result;
    if (result === 'ok' && !this.#ready)
      this.#o.log.info({ topics: this.#o.topics }, 'Kafka is reachable and the topics exist: ready');
    if (result !== 'ok' && (this.#ready || problem !== this.#problem)) this.#o.log.warn({ problem }, 'not ready');
    this.#ready = result === 'ok';
    this.#problem = problem;
    this.#o.onResult?.(result);
    return result;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      await this.check();
      await this.#o.clock.sleep(this.#o.intervalMs, signal).catch(() => undefined);
    }
  }
}
