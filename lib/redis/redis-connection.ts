/**
 * The one way Weir processes open a Redis connection (ioredis): commands fail after a
 * bounded time instead of queueing while Redis is away, so that callers can apply their
 * own failure mode (a limiter fails open or closed, a reconciler retries with backoff), and
 * connection errors are logged without the URL, which may hold a password.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

/** Options for {@link connectRedis}. */
export interface RedisConnectionOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` for TLS. */
  url: string;
  /** Shown by CLIENT LIST, such as `weir-gateway`. */
  connectionName: string;
  log: Logger;
  /** A command that has no answer after this long fails; 10 s unless given. */
  commandTimeoutMs?: number;
  /** Reconnect attempts a command waits through before it fails; 1 unless given. */
  maxRetriesPerRequest?: number;
  /** Whether commands issued while disconnected wait for the connection (true) or fail at once; true unless given. */
  offlineQueue?: boolean;
  /** Whether to ask INFO whether the server is loading before the first command; true unless given. A tenant's user may not run INFO. */
  readyCheck?: boolean;
  /** Whether commands issued in the same tick go out in one write (ioredis auto-pipelining); false unless given. */
  autoPipelining?: boolean;
}

/** A lazily connecting client: the first command connects. */
export function connectRedis(options: RedisConnectionOptions): Redis {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectionName: options.connectionName,
    commandTimeout: options.commandTimeoutMs ?? 10_000,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? 1,
    enableOfflineQueue: options.offlineQueue ?? true,
    enableReadyCheck: options.readyCheck ?? true,
    enableAutoPipelining: options.autoPipelining ?? false,
    // Reconnect quickly at first, then every 2 s at most, for as long as the process runs.
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  });
  redis.on('error', (err: Error) => options.log.warn({ err: { message: err.message } }, 'redis connection error'));
  return redis;
}
