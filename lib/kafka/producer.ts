/**
 * Writing events to Kafka, behind one small interface so that the client library is a
 * choice, not a dependency of the services: a {@link RecordSender} is a library's
 * idempotent producer with acks=all that sends one batch (producer-kafkajs.ts,
 * producer-platformatic.ts), and {@link EventProducer} batches the records of concurrent
 * callers into those sends.
 *
 * Batching: while a batch is in flight the next one fills; when nothing is in flight,
 * records go out at the end of the current tick. A quiet producer adds no waiting, a busy
 * one sends few, large requests. At most `maxInFlight` batches are out at once (one keeps
 * the idempotent producer's sequence numbers in order without relying on the library).
 *
 * While Kafka is unavailable, callers are refused at once with KafkaUnavailable instead of
 * piling up; one batch per `probeMs` goes through to find out whether it is back.
 */
import type { Clock } from '../clock/clock.ts';
import { Errors, hasCode, weirError } from '../errors/errors.ts';
import type { Logger } from '../observability/logger.ts';

/** One record to write. */
export interface ProducerRecord {
  topic: string;
  /** Bytes the partition is chosen by (murmur2, as Kafka's Java client chooses it). */
  key: Buffer;
  value: Buffer;
  headers: Readonly<Record<string, string>>;
}

/** One client library's producer: idempotent, acks=all, records partitioned by key as Kafka's Java client does. */
export interface RecordSender {
  /** Which library it is, for logs and metrics: `kafkajs` or `platformatic`. */
  readonly client: string;
  /** Connects and obtains a producer id; rejects with KafkaUnavailable if Kafka cannot be reached. */
  connect(): Promise<void>;
  /**
   * Writes the records in one request per broker; resolves once Kafka acknowledged all of
   * them. Rejects with KafkaUnavailable when Kafka could not be reached in time (nothing or
   * part may have been written) or KafkaRequestFailed when Kafka refused the records.
   */
  sendBatch(records: readonly ProducerRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** The refusal of records that were never handed to Kafka: sending them again cannot duplicate them. */
function notWritten(): Error {
  return weirError(Errors.KafkaUnavailable, 'Kafka is unavailable; nothing was written, try again shortly', {
    details: { written: false },
  });
}

/** Whether `err` says for certain that none of the records reached Kafka. */
export function certainlyNotWritten(err: unknown): boolean {
  return hasCode(err, Errors.KafkaUnavailable) && err.details?.written === false;
}

/** Options for {@link EventProducer}. */
export interface EventProducerOptions {
  sender: RecordSender;
  clock: Clock;
  log: Logger;
  /** Records in one batch at most; 2,000 unless given. */
  maxBatchRecords?: number;
  /** Bytes of values in one batch at most; 1 MiB unless given (Kafka's default message.max.bytes). */
  maxBatchBytes?: number;
  /** Batches in flight at once; 1 unless given. */
  maxInFlight?: number;
  /** How long after a failure the next batch may try again; 1 s unless given. */
  probeMs?: number;
  /** Called after every batch, for metrics. */
  onBatch?: (records: number, bytes: number, ms: number, outcome: 'ok' | 'error') => void;
}

interface Pending {
  records: readonly ProducerRecord[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Batches concurrent writers' records into one sender's requests. */
export class EventProducer {
  readonly client: string;
  #o: Required<Omit<EventProducerOptions, 'onBatch'>> & Pick<EventProducerOptions, 'onBatch'>;
  #queue: Pending[] = [];
  #queuedRecords = 0;
  #inFlight = 0;
  #scheduled = false;
  #connected = false;
  /** Until when callers are refused after a failed batch; 0 while Kafka answers. */
  #unavailableUntil = 0;
  #probing = false;
  #idle: (() => void)[] = [];
  #closed = false;

  constructor(options: EventProducerOptions) {
    this.client = options.sender.client;
    this.#o = {
      maxBatchRecords: 2_000,
      maxBatchBytes: 1024 * 1024,
      maxInFlight: 1,
      probeMs: 1_000,
      ...options,
    };
  }

  /** Connects the sender; until it has, and while Kafka is unavailable, `available` is false. */
  async connect(): Promise<void> {
    await this.#o.sender.connect();
    this.#connected = true;
    this.#unavailableUntil = 0;
  }

  /** True once connected and while the last batch reached Kafka. */
  get available(): boolean {
    return this.#connected && this.#unavailableUntil === 0;
  }

  /** Records waiting for a batch or in one. */
  get pending(): number {
    return this.#queuedRecords;
  }

  /** Writes records; resolves once Kafka acknowledged them all. Records of one call go in one batch. */
  send(records: readonly ProducerRecord[]): Promise<void> {
    if (this.#closed) return Promise.reject(weirError(Errors.ShuttingDown, 'the producer is closed'));
    if (records.length === 0) return Promise.resolve();
    if (this.#refusing()) return Promise.reject(notWritten());
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let bytes = 0;
    for (const r of records) bytes += r.value.length + r.key.length;
    this.#queue.push({ records, bytes, resolve, reject });
    this.#queuedRecords += records.length;
    this.#schedule();
    return promise;
  }

  /** Resolves once every record handed over so far has been acknowledged or refused. */
  flush(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Sends what is queued, then closes the sender. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    await this.#o.sender.close();
  }

  /** While unavailable, callers are refused, except that one batch per probe period goes through. */
  #refusing(): boolean {
    if (this.#unavailableUntil === 0) return false;
    if (this.#probing || this.#o.clock.now() < this.#unavailableUntil) return true;
    this.#probing = true;
    return false;
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#o.maxInFlight) return;
    this.#scheduled = true;
    // Records handed over in the same tick (one event loop turn of requests) join one batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#o.maxInFlight) {
      const batch: Pending[] = [];
      let records = 0;
      let bytes = 0;
      while (this.#queue.length > 0) {
        const next = this.#queue[0]!;
        const fits =
          batch.length === 0 ||
          (records + next.records.length <= this.#o.maxBatchRecords && bytes + next.bytes <= this.#o.maxBatchBytes);
        if (!fits) break;
        batch.push(this.#queue.shift()!);
        records += next.records.length;
        bytes += next.bytes;
      }
      void this.#sendBatch(batch, records, bytes);
    }
  }

  async #sendBatch(batch: Pending[], records: number, bytes: number): Promise<void> {
    this.#inFlight++;
    const started = this.#o.clock.now();
    const all = batch.length === 1 ? batch[0]!.records : batch.flatMap((p) => p.records);
    try {
      await this.#o.sender.sendBatch(all);
      if (this.#unavailableUntil !== 0) this.#o.log.info({ client: this.client }, 'Kafka is available again');
      this.#unavailableUntil = 0;
      this.#o.onBatch?.(records, bytes, this.#o.clock.now() - started, 'ok');
      for (const p of batch) p.resolve();
    } catch (err) {
      if (hasCode(err, Errors.KafkaUnavailable)) {
        if (this.#unavailableUntil === 0)
          this.#o.log.warn({ client: this.client, err: { message: (err as Error).message } }, 'Kafka is unavailable');
        this.#unavailableUntil = this.#o.clock.now() + this.#o.probeMs;
        // Records not yet handed to the library are refused now rather than after a timeout each.
        for (const p of this.#queue.splice(0)) {
          this.#queuedRecords -= p.records.length;
          p.reject(notWritten());
        }
      }
      this.#o.onBatch?.(records, bytes, this.#o.clock.now() - started, 'error');
      for (const p of batch) p.reject(err);
    } finally {
      this.#probing = false;
      this.#queuedRecords -= records;
      this.#inFlight--;
      if (this.#queue.length > 0) this.#schedule();
      else if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
