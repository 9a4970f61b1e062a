/**
 * One task of a processor: the state of its input partitions (one, or all in single mode)
 * and the loop that turns their batches into committed results.
 *
 * A batch is decoded, enriched, masked and aggregated in order; the results go to Redis and
 * Postgres (idempotent upserts guarded by the window revision); then one Kafka transaction
 * carries the output-topic results, every state change for the changelog, the dead letters
 * and retries, and the input offsets. Either all of that is committed or none, so a crash
 * at any point leaves the changelog and the offsets in step: the task that takes over
 * restores the one and resumes at the other, and nothing is lost or counted twice. A
 * restored task also skips records its state already holds (the offsets are kept in the
 * changelog too), in case the group's committed offsets lag behind a fenced predecessor's.
 */
import type { Clock } from '../../lib/clock/clock.ts';
import type { BatchControl, ConsumedBatch, ConsumedRecord } from '../../lib/kafka/consumer.ts';
import type { BatchCommitter, OutgoingRecord } from '../../lib/kafka/transaction.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import { durationMs } from '../../lib/platform/duration.ts';
import type { ProcessorConfig } from '../../lib/platform/processor-config.ts';
import { outputKey, type ResultUpdate } from '../../lib/platform/results.ts';
import type { AggregationEngine, AggregationCounts } from './engine/aggregation-engine.ts';
import { hash53 } from './engine/hyper-log-log.ts';
import type { Emissions } from './engine/window-store.ts';
import { DeadLetterReason, deadLetter, notBefore, retryOf, sourceOf, type Backoff } from './dead-letters.ts';
import type { Enricher } from './enrichment/enricher.ts';
import type { ProcessorMetrics } from './processor-metrics.ts';

/** Where results go besides Kafka: Redis and Postgres. Writes must be idempotent. */
export interface ResultSink {
  readonly name: string;
  write(emissions: Pick<Emissions, 'results' | 'retractions'>): Promise<void>;
}

/** The changelog key of the task's input offsets (no aggregation name starts with `~`). */
export const OFFSETS_KEY = '~offsets';

export interface TaskOptions {
  id: string;
  /** The input partitions whose state this task holds. */
  partitions: number[];
  config: ProcessorConfig;
  committer: BatchCommitter;
  /** Reads the task's changelog partitions: the last value of every key. */
  readChangelog: () => Promise<Map<string, Buffer | null>>;
  /** The changelog partition of a state key. */
  changelogPartition: (key: string) => number;
  engine: AggregationEngine;
  sinks: ResultSink[];
  enricher: Enricher;
  mask: (event: Record<string, unknown>) => void;
  clock: Clock;
  log: Logger;
  metrics: ProcessorMetrics;
  /** Asks the consumer to hold a retry partition until `untilMs`. */
  holdRetries: (partition: number, untilMs: number) => void;
}

type Decoded =
  | { record: ConsumedRecord; event: Record<string, unknown> }
  | { record: ConsumedRecord; invalid: DeadLetterReason; message: string };

function decode(record: ConsumedRecord): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(record.value?.toString('utf8') ?? '');
  } catch (err) {
    return {
      record,
      invalid: DeadLetterReason.InvalidJson,
      message: `the value is not JSON: ${(err as Error).message}`,
    };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return {
      record,
      invalid: DeadLetterReason.NotAnObject,
      message: `the value is JSON but not an object (${Array.isArray(value) ? 'an array' : typeof value})`,
    };
  return { record, event: value as Record<string, unknown> };
}

export class Task {
  readonly id: string;
  readonly partitions: number[];
  readonly #o: TaskOptions;
  readonly #backoff: Backoff;
  /** The next offset of every topic-partition whose records the state holds. */
  #next = new Map<string, bigint>();
  #queue: Promise<void> = Promise.resolve();
  #failed: Error | undefined;
  #restored = false;
  #counted = new Map<string, AggregationCounts>();
  readonly ready: Promise<void>;

  constructor(options: TaskOptions) {
    this.#o = options;
    this.id = options.id;
    this.partitions = options.partitions;
    const b = options.config.spec.failure.backoff;
    this.#backoff = { initialMs: durationMs(b.initial), maxMs: durationMs(b.max), multiplier: b.multiplier };
    this.ready = this.#start();
    // The caller awaits ready; an early failure must not surface as an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** Whether the changelog is read and the task takes batches. */
  get restored(): boolean {
    return this.#restored;
  }

  /** Why the task stopped, if it did: it does nothing more and must be replaced. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Processes one batch and commits it; resolves once committed. */
  processBatch(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    return this.#exclusive(() => this.#batch(batch, control));
  }

  /** Lets the clock move the watermarks (idle partitions) and commits what that closed. */
  tick(): Promise<void> {
    return this.#exclusive(async () => {
      this.#o.engine.tick();
      await this.#commit(this.#o.engine.drain(), [], []);
    });
  }

  /** Waits for the work in hand, then lets go of the producer. */
  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
    await this.#o.committer.close().catch(() => undefined);
  }

  async #start(): Promise<void> {
    const started = performance.now();
    // Fencing first: the previous owner's open transaction is aborted before the changelog is read.
    await this.#o.committer.init();
    const raw = await this.#o.readChangelog();
    const state = new Map<string, unknown>();
    for (const [key, value] of raw) {
      const parsed = value === null ? null : (JSON.parse(value.toString('utf8')) as unknown);
      if (key === OFFSETS_KEY) {
        for (const [tp, offset] of Object.entries((parsed ?? {}) as Record<string, string>))
          this.#next.set(tp, BigInt(offset));
      } else state.set(key, parsed);
    }
    this.#o.engine.restore(state);
    this.#restored = true;
    this.#o.metrics.restoreSeconds.observe((performance.now() - started) / 1000);
    this.#o.metrics.restoredKeys.inc(state.size);
    this.#o.log.info(
      {
        partitions: this.partitions,
        keys: state.size,
        offsets: Object.fromEntries([...this.#next].map(([k, v]) => [k, String(v)])),
      },
      'task restored',
    );
  }

  #exclusive(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#failed) throw this.#failed;
      await this.ready;
      try {
        await work();
      } catch (err) {
        this.#failed = err as Error;
        throw err;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #batch(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    const tp = `${batch.topic}:${batch.partition}`;
    const from = this.#next.get(tp) ?? 0n;
    const retried = batch.topic === this.#o.config.topics.Retry;
    const now = this.#o.clock.now();
    const records: ConsumedRecord[] = [];
    let until = BigInt(batch.nextOffset);
    let holdUntil: number | undefined;
    // Offsets rise through a batch: only its head can hold records the state has already.
    let skipping = from > 0n;
    for (const r of batch.records) {
      if (skipping) {
        if (BigInt(r.offset) < from) continue;
        skipping = false;
      }
      // Only the processor's own records say where they came from; an input record may not claim to.
      if (!retried) for (const h in r.headers) if (h.startsWith('weir-')) delete r.headers[h];
      if (retried && notBefore(r) > now) {
        // Not due yet: the rest of this partition waits, the input partition does not.
        until = BigInt(r.offset);
        holdUntil = notBefore(r);
        break;
      }
      records.push(r);
    }
    if (until < from) until = from;
    const out = await this.#handle(records, retried, now);
    this.#o.metrics.records.labels(retried ? 'retry' : 'input').inc(records.length);
    const offsets = until > from ? [{ topic: batch.topic, partition: batch.partition, offset: String(until) }] : [];
    await this.#commit(this.#o.engine.drain(), out, offsets, control);
    if (until > from) this.#next.set(tp, until);
    control.done(String(until));
    this.#o.metrics.lag
      .labels(batch.topic, String(batch.partition))
      .set(Math.max(0, Number(BigInt(batch.highWatermark) - until)));
    if (holdUntil !== undefined) this.#o.holdRetries(batch.partition, holdUntil);
  }

  /** Dead letters and retries of the records; everything else goes into the engine. */
  async #handle(records: ConsumedRecord[], retried: boolean, now: number): Promise<OutgoingRecord[]> {
    const { config } = this.#o;
    const out: OutgoingRecord[] = [];
    const dlq = (r: ConsumedRecord, reason: DeadLetterReason, message: string, aggregation?: string) => {
      out.push(deadLetter(config.topics.DeadLetter, r, { reason, message, aggregation }, now));
      this.#o.metrics.deadLetters.labels(reason).inc();
    };
    const decoded = records.map(decode);
    const events: Record<string, unknown>[] = [];
    for (const d of decoded) if ('event' in d) events.push(d.event);
    const enriched = await this.#o.enricher.enrich(events);
    let next = 0;
    for (const d of decoded) {
      if (!('event' in d)) {
        dlq(d.record, d.invalid, d.message);
        continue;
      }
      // Outcomes come in the order of the events given.
      const outcome = enriched[next++]!;
      if (outcome.kind === 'failed') {
        const retry = retryOf(
          config.topics.Retry,
          d.record,
          outcome.message,
          { maxRetries: config.spec.failure.maxRetries, backoff: this.#backoff },
          now,
        );
        if (retry) {
          out.push(retry);
          this.#o.metrics.retries.inc();
        } else
          dlq(
            d.record,
            DeadLetterReason.RetriesExhausted,
            `${config.spec.failure.maxRetries} retries failed; the last: ${outcome.message}`,
          );
        continue;
      }
      if (outcome.kind === 'deadLetter') {
        dlq(d.record, DeadLetterReason.EnrichmentMiss, outcome.message);
        continue;
      }
      this.#o.mask(d.event);
      for (const r of this.#o.engine.process({ partition: sourceOf(d.record).partition, event: d.event, retried }))
        dlq(d.record, r.reason, r.message, r.aggregation);
    }
    return out;
  }

  /** Writes the results to the sinks, then commits everything in one transaction. */
  async #commit(
    emissions: Emissions,
    records: OutgoingRecord[],
    offsets: { topic: string; partition: number; offset: string }[],
    control?: BatchControl,
  ): Promise<void> {
    this.#countEvents();
    const { config } = this.#o;
    if (
      !emissions.results.length &&
      !emissions.retractions.length &&
      !emissions.changes.size &&
      !records.length &&
      !offsets.length
    )
      return;
    if (emissions.results.length || emissions.retractions.length)
      for (const sink of this.#o.sinks) await this.#withRetries(sink.name, () => sink.write(emissions), control);
    const all = [...records];
    const output = config.spec.sinks.topic.enabled ? config.topics.Output : undefined;
    if (output) {
      const updates: ResultUpdate[] = [
        ...emissions.results.filter((r) => r.final).map((r) => ({ type: 'result' as const, ...r })),
        ...emissions.retractions.map((r) => ({ type: 'retraction' as const, ...r })),
      ];
      for (const u of updates)
        all.push({ topic: output, key: outputKey(u.aggregation, u.groupKey), value: JSON.stringify(u) });
    }
    const changelog = config.topics.Changelog;
    for (const [key, value] of emissions.changes)
      all.push({
        topic: changelog,
        partition: this.#o.changelogPartition(key),
        key,
        value: value === null ? null : JSON.stringify(value),
      });
    if (offsets.length) {
      const next = new Map(this.#next);
      for (const o of offsets) next.set(`${o.topic}:${o.partition}`, BigInt(o.offset));
      all.push({
        topic: changelog,
        partition: this.#o.changelogPartition(OFFSETS_KEY),
        key: OFFSETS_KEY,
        value: JSON.stringify(Object.fromEntries([...next].map(([k, v]) => [k, String(v)]))),
      });
    }
    const started = performance.now();
    try {
      await this.#o.committer.commit(all, offsets);
      this.#o.metrics.transactions.labels('committed').inc();
    } catch (err) {
      this.#o.metrics.transactions.labels('failed').inc();
      throw err;
    }
    this.#o.metrics.commitSeconds.observe((performance.now() - started) / 1000);
    this.#o.metrics.outputs.inc(all.length);
  }

  /** Retries a sink write with backoff for up to about half a minute; the partition waits meanwhile. */
  async #withRetries(name: string, write: () => Promise<void>, control?: BatchControl): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await write();
        return;
      } catch (err) {
        this.#o.metrics.sinkFailures.labels(name).inc();
        if (attempt >= 8) throw err;
        const delay = Math.min(5_000, 100 * 2 ** attempt);
        this.#o.log.warn(
          { sink: name, attempt, err: { message: (err as Error).message } },
          'writing results failed; retrying',
        );
        await this.#o.clock.sleep(delay);
        await control?.heartbeat().catch(() => undefined);
      }
    }
  }

  #countEvents(): void {
    for (const [aggregation, c] of this.#o.engine.counts()) {
      const before = this.#counted.get(aggregation) ?? { onTime: 0, late: 0, tooLate: 0, rejected: 0 };
      for (const outcome of ['onTime', 'late', 'tooLate', 'rejected'] as const)
        if (c[outcome] > before[outcome])
          this.#o.metrics.events.labels(aggregation, outcome).inc(c[outcome] - before[outcome]);
      this.#counted.set(aggregation, c);
    }
    for (const [aggregation, n] of this.#o.engine.windows())
      this.#o.metrics.windows.labels(aggregation, this.id).set(n);
  }
}

/** The changelog partition of a key when one task holds every partition's state. */
export function hashedPartition(key: string, partitions: number): number {
  return hash53(key) % partitions;
}
