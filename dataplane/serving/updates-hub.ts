/**
 * Live window updates from the processor's pub/sub channels (lib/platform/results.ts
 * `updatesChannel`), fanned out to every GraphQL subscription and gRPC watch of this
 * process: one Redis connection subscribes each channel once, when its first subscriber
 * comes, and unsubscribes when its last one goes, however many subscribers share it.
 *
 * Each subscriber has a bounded buffer; one that falls further behind than that is ended
 * with an error instead of holding memory for a client that does not read.
 */
import type { Redis } from 'ioredis';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { ResultUpdate } from '../../lib/platform/results.ts';

interface Subscriber {
  push(update: ResultUpdate): void;
  fail(err: Error): void;
}

/** Options for {@link UpdatesHub}. */
export interface UpdatesHubOptions {
  /** A connection for this hub alone: a subscribed connection runs no other commands. */
  redis: Redis;
  log: Logger;
  /** Called with the number of channels subscribed whenever it changes. */
  onChannels?: (count: number) => void;
}

/** Shares one Redis subscription per channel among all subscribers of it. */
export class UpdatesHub {
  readonly #o: UpdatesHubOptions;
  readonly #channels = new Map<string, { subscribers: Set<Subscriber>; subscribed: Promise<unknown> }>();

  constructor(options: UpdatesHubOptions) {
    this.#o = options;
    options.redis.on('message', (channel: string, message: string) => {
      const entry = this.#channels.get(channel);
      if (!entry) return;
      let update: ResultUpdate;
      try {
        update = JSON.parse(message) as ResultUpdate;
      } catch {
        options.log.warn({ channel }, 'an update that is not JSON was ignored');
        return;
      }
      for (const s of entry.subscribers) s.push(update);
    });
  }

  /** Channels subscribed now. */
  get channels(): number {
    return this.#channels.size;
  }

  /**
   * The updates of `channel` from now on, until the iterator is returned (a client left) or
   * fails. `ready` resolves once Redis confirmed the subscription.
   */
  subscribe(channel: string, buffer: number): { updates: AsyncIterableIterator<ResultUpdate>; ready: Promise<void> } {
    const queue: ResultUpdate[] = [];
    let waiting: PromiseWithResolvers<IteratorResult<ResultUpdate>> | undefined;
    let failed: Error | undefined;
    let done = false;
    const subscriber: Subscriber = {
      push: (update) => {
        if (done) return;
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w.resolve({ value: update, done: false });
        } else if (queue.length >= buffer) {
          subscriber.fail(
            weirError(Errors.RateLimited, `the subscriber fell more than ${buffer} updates behind; subscribe again`),
          );
        } else queue.push(update);
      },
      fail: (err) => {
        failed = err;
        leave();
        waiting?.reject(err);
        waiting = undefined;
      },
    };
    let entry = this.#channels.get(channel);
    if (!entry) {
      entry = { subscribers: new Set(), subscribed: this.#o.redis.subscribe(channel) };
      this.#channels.set(channel, entry);
      this.#o.onChannels?.(this.#channels.size);
    }
    entry.subscribers.add(subscriber);
    const leave = () => {
      if (done) return;
      done = true;
      const current = this.#channels.get(channel);
      if (!current) return;
      current.subscribers.delete(subscriber);
      if (current.subscribers.size === 0) {
        this.#channels.delete(channel);
        this.#o.onChannels?.(this.#channels.size);
        this.#o.redis.unsubscribe(channel).catch(() => undefined);
      }
    };
    const ready = entry.subscribed.then(
      () => undefined,
      (err: unknown) => {
        const error = weirError(Errors.RedisUnavailable, 'Redis did not take the subscription', { cause: err });
        subscriber.fail(error);
        throw error;
      },
    );
    ready.catch(() => undefined);
    const updates: AsyncIterableIterator<ResultUpdate> = {
      [Symbol.asyncIterator]() {
        return updates;
      },
      next() {
        const value = queue.shift();
        if (value) return Promise.resolve({ value, done: false });
        if (failed) return Promise.reject(failed);
        if (done) return Promise.resolve({ value: undefined, done: true });
        waiting = Promise.withResolvers();
        return waiting.promise;
      },
      return() {
        leave();
        waiting?.resolve({ value: undefined, done: true });
        waiting = undefined;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    return { updates, ready };
  }

  /** Ends every subscription. */
  close(): void {
    for (const [, entry] of this.#channels)
      for (const s of entry.subscribers)
        s.fail(weirError(Errors.ShuttingDown, 'serving is shutting down; subscribe again'));
    this.#channels.clear();
  }
}
