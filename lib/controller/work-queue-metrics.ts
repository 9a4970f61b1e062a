/**
 * Prometheus metrics of work queues under the names and labels controller-runtime uses,
 * so that existing dashboards and alerts for Kubernetes controllers work on Weir's.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../clock/clock.ts';

/** What one queue reports as keys move through it; the queue makes these calls. */
export interface QueueMetrics {
  /** A key became pending (it was not already). */
  add(key: string): void;
  /** A pending key was handed to a worker. */
  get(key: string): void;
  /** A worker finished with a key. */
  done(key: string): void;
  /** A key was scheduled to come back after a delay. */
  retry(): void;
}

/** Makes the metrics of each queue; what a `WorkQueue` takes as its `metrics` option. */
export interface WorkQueueMetrics {
  forQueue(name: string, clock: Clock): QueueMetrics;
}

/** client-go's buckets: 10ns to 1000s, a factor of ten apart. */
const DURATION_BUCKETS = Array.from({ length: 12 }, (_, i) => Number(`1e${i - 8}`));

/** Both labels carry the queue name, as in controller-runtime v0.15 and later. */
const LABELS = ['name', 'controller'] as const;
type LabelName = (typeof LABELS)[number];
type Labels = Record<LabelName, string>;

/**
 * Registers the workqueue_* metrics on `registry` and returns the provider queues use.
 * Call it once per registry: registering the same names twice fails.
 */
export function createWorkQueueMetrics(registry: Registry): WorkQueueMetrics {
  const registers = [registry];
  // Workers' progress is read at scrape time instead of on client-go's 500ms ticker. Only
  // queues with keys in progress are asked; every other known queue reports zero.
  const busy = new Set<QueueRecorder>();
  const names = new Set<string>();
  const inProgress = (measure: (recorder: QueueRecorder) => number, combine: (a: number, b: number) => number) =>
    function (this: Gauge<LabelName>) {
      const values = new Map<string, number>([...names].map((name) => [name, 0]));
      for (const recorder of busy)
        values.set(recorder.name, combine(values.get(recorder.name) ?? 0, measure(recorder)));
      for (const [name, value] of values) this.set({ name, controller: name }, value);
    };
  const instruments: Instruments = {
    depth: new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: LABELS, registers }),
    adds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: LABELS,
      registers,
    }),
    latency: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: LABELS,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    workDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: LABELS,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    retries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: LABELS,
      registers,
    }),
  };
  new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help:
      "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. " +
      'Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.',
    labelNames: LABELS,
    registers,
    collect: inProgress(
      (recorder) => recorder.unfinishedSeconds(),
      (a, b) => a + b,
    ),
  });
  new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running.',
    labelNames: LABELS,
    registers,
    collect: inProgress((recorder) => recorder.longestRunningSeconds(), Math.max),
  });
  return {
    forQueue(name, clock) {
      names.add(name);
      return new QueueRecorder({ name, clock, instruments, busy });
    },
  };
}

interface Instruments {
  depth: Gauge<LabelName>;
  adds: Counter<LabelName>;
  latency: Histogram<LabelName>;
  workDuration: Histogram<LabelName>;
  retries: Counter<LabelName>;
}

/** One queue's view of the shared instruments, with the timestamps client-go keeps per key. */
class QueueRecorder implements QueueMetrics {
  readonly name: string;
  readonly labels: Labels;
  #clock: Clock;
  #instruments: Instruments;
  #busy: Set<QueueRecorder>;
  #addedAt = new Map<string, number>();
  #startedAt = new Map<string, number>();

  constructor(options: { name: string; clock: Clock; instruments: Instruments; busy: Set<QueueRecorder> }) {
    this.name = options.name;
    this.labels = { name: options.name, controller: options.name };
    this.#clock = options.clock;
    this.#instruments = options.instruments;
    this.#busy = options.busy;
    // Series appear at zero as soon as the queue exists, as client-go's do.
    this.#instruments.depth.inc(this.labels, 0);
    this.#instruments.adds.inc(this.labels, 0);
    this.#instruments.retries.inc(this.labels, 0);
    this.#instruments.latency.zero(this.labels);
    this.#instruments.workDuration.zero(this.labels);
  }

  add(key: string): void {
    this.#instruments.adds.inc(this.labels);
    this.#instruments.depth.inc(this.labels);
    if (!this.#addedAt.has(key)) this.#addedAt.set(key, this.#clock.now());
  }

  get(key: string): void {
    const now = this.#clock.now();
    this.#instruments.depth.dec(this.labels);
    this.#startedAt.set(key, now);
    this.#busy.add(this);
    const addedAt = this.#addedAt.get(key);
    if (addedAt === undefined) return;
    this.#instruments.latency.observe(this.labels, (now - addedAt) / 1000);
    this.#addedAt.delete(key);
  }

  done(key: string): void {
    const startedAt = this.#startedAt.get(key);
    if (startedAt === undefined) return;
    this.#instruments.workDuration.observe(this.labels, (this.#clock.now() - startedAt) / 1000);
    this.#startedAt.delete(key);
    if (this.#startedAt.size === 0) this.#busy.delete(this);
  }

  retry(): void {
    this.#instruments.retries.inc(this.labels);
  }

  /** Seconds spent so far on every key in progress together. */
  unfinishedSeconds(): number {
    const now = this.#clock.now();
    let total = 0;
    for (const startedAt of this.#startedAt.values()) total += now - startedAt;
    return total / 1000;
  }

  /** Seconds spent so far on the key that has been in progress longest. */
  longestRunningSeconds(): number {
    const now = this.#clock.now();
    let longest = 0;
    for (const startedAt of this.#startedAt.values()) longest = Math.max(longest, now - startedAt);
    return longest / 1000;
  }
}

/** Metrics that go nowhere, for a queue made without a provider. */
export const noQueueMetrics: QueueMetrics = { add() {}, get() {}, done() {}, retry() {} };
