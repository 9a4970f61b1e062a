/**
 * A TopicAdmin that gathers the describes and creates of many reconciles into one Kafka
 * request each, the way Strimzi's topic operator batches its admin calls. Kafka handles a
 * CreateTopics of a hundred topics in about the time of one of four, and a client such as
 * kafkajs refreshes the metadata of every topic before each admin request: with hundreds
 * of Pipelines reconciling at once, requests per topic are what limits the rate.
 *
 * At most one request of each kind is in flight; callers that arrive meanwhile wait for
 * the next one, so a busy controller sends large batches and an idle one waits for no
 * timer. A batched create that Kafka refuses for some topics is retried per caller, so
 * each caller hears only about its own topics.
 */
import { refusalOf, type TopicAdmin, type TopicSpec, type TopicState } from './topic-admin.ts';

/** One caller's part of a batch. */
interface Waiter<In, Out> {
  input: In;
  resolve: (value: Out) => void;
  reject: (reason: unknown) => void;
}

/**
 * Collects inputs until the request in flight (if any) is done, then runs `flush` once for
 * all of them, at most `maxBatch` callers at a time.
 */
class Batch<In, Out> {
  #pending: Waiter<In, Out>[] = [];
  #busy = false;
  readonly #flush: (waiters: Waiter<In, Out>[]) => Promise<void>;
  readonly #maxBatch: number;

  constructor(flush: (waiters: Waiter<In, Out>[]) => Promise<void>, maxBatch: number) {
    this.#flush = flush;
    this.#maxBatch = maxBatch;
  }

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#pending.push({ input, resolve, reject });
      // Let the callers of this turn of the event loop join before sending.
      if (!this.#busy) {
        this.#busy = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const waiters = this.#pending.splice(0, this.#maxBatch);
      try {
        await this.#flush(waiters);
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    }
    this.#busy = false;
  }
}

export interface BatchingTopicAdminOptions {
  /** Most callers whose topics go into one request. */
  maxBatch?: number;
}

export class BatchingTopicAdmin implements TopicAdmin {
  readonly #inner: TopicAdmin;
  readonly #describes: Batch<string[], Map<string, TopicState>>;
  readonly #creates: Batch<TopicSpec[], void>;

  constructor(inner: TopicAdmin, options: BatchingTopicAdminOptions = {}) {
    this.#inner = inner;
    const maxBatch = options.maxBatch ?? 64;
    this.#describes = new Batch(async (waiters) => {
      const states = await inner.describe([...new Set(waiters.flatMap((w) => w.input))]);
      for (const w of waiters)
        w.resolve(new Map(w.input.flatMap((name) => (states.has(name) ? [[name, states.get(name)!] as const] : []))));
    }, maxBatch);
    this.#creates = new Batch(async (waiters) => {
      const byName = new Map(waiters.flatMap((w) => w.input.map((spec) => [spec.name, spec] as const)));
      try {
        await inner.create([...byName.values()]);
        for (const w of waiters) w.resolve();
      } catch (err) {
        if (!refusalOf(err) || waiters.length === 1) throw err;
        // Some topic was refused: find out whose, by asking again for each caller alone.
        await Promise.all(waiters.map((w) => inner.create(w.input).then(w.resolve, w.reject)));
      }
    }, maxBatch);
  }

  describe(names: string[]): Promise<Map<string, TopicState>> {
    return names.length === 0 ? Promise.resolve(new Map()) : this.#describes.add(names);
  }

  create(specs: TopicSpec[]): Promise<void> {
    return specs.length === 0 ? Promise.resolve() : this.#creates.add(specs);
  }

  increasePartitions(name: string, total: number): Promise<void> {
    return this.#inner.increasePartitions(name, total);
  }

  alterConfig(name: string, config: Record<string, string>): Promise<void> {
    return this.#inner.alterConfig(name, config);
  }

  deleteTopics(names: string[]): Promise<void> {
    return this.#inner.deleteTopics(names);
  }

  ping(): Promise<number> {
    return this.#inner.ping();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
