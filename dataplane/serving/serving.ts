/**
 * Serving assembled: one multi-tenant read service over the results the processor
 * materializes — REST and GraphQL (with WebSocket subscriptions) on the HTTP port, gRPC on
 * its own, and /healthz, /readyz, /metrics on the metrics port. Configuration comes from
 * the watched Tenants and Pipelines; results from one Redis connection for reads, one for
 * subscriptions and one Postgres pool, shared by every tenant, with every key and table
 * built from the caller's own tenant. `/readyz` is true once the configuration is synced
 * and while serving is not draining.
 */
import type { Clock } from '../../lib/clock/clock.ts';
import pg from 'pg';
import { serveHealth } from '../../lib/observability/health-server.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import { createRegistry } from '../../lib/observability/metrics.ts';
import { connectRedis } from '../../lib/redis/redis-connection.ts';
import { registerGraphql } from './graphql-api.ts';
import { startGrpcServer } from './grpc-server.ts';
import { buildHttpServer } from './http-server.ts';
import { ResultsReader } from './results-reader.ts';
import { addRestRoutes } from './rest-routes.ts';
import type { ServingConfig } from './serving-config.ts';
import { createServingMetrics } from './serving-metrics.ts';
import { ServingQueries } from './serving-queries.ts';
import type { ServingSettings } from './settings.ts';
import { UpdatesHub } from './updates-hub.ts';

/** Where serving's configuration comes from: informers in a cluster, or a test that updates the config itself. */
export interface ConfigSource {
  synced(signal?: AbortSignal): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/** A running serving process. */
export interface Serving {
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  readonly ready: boolean;
  /** Drains and stops everything. */
  stop(): Promise<void>;
}

/** Starts serving; the configuration syncs in the background. */
export async function startServing(
  settings: ServingSettings,
  deps: { config: ServingConfig; source: ConfigSource; log: Logger; clock: Clock },
): Promise<Serving> {
  const { config, source, log, clock } = deps;
  const registry = createRegistry();
  const metrics = createServingMetrics(registry);
  const redis = connectRedis({
    url: settings.redisUrl,
    connectionName: `weir-serving:${settings.servingId}`,
    log,
    commandTimeoutMs: settings.readTimeoutMs,
    offlineQueue: false,
    maxRetriesPerRequest: 0,
    autoPipelining: true,
  });
  const subscriber = connectRedis({
    url: settings.redisUrl,
    connectionName: `weir-serving-updates:${settings.servingId}`,
    log,
    // Only (un)subscribes wait for answers; ioredis subscribes again after a reconnect.
    commandTimeoutMs: settings.readTimeoutMs,
  });
  redis.connect().catch(() => undefined);
  subscriber.connect().catch(() => undefined);
  const postgres = new pg.Pool({
    connectionString: settings.postgresUrl,
    max: settings.postgresPoolSize,
    application_name: `weir-serving:${settings.servingId}`,
    connectionTimeoutMillis: settings.readTimeoutMs,
    statement_timeout: settings.readTimeoutMs,
  });
  postgres.on('error', (err) => log.warn({ err: { message: err.message } }, 'postgres connection error'));
  const reader = new ResultsReader({ redis, postgres, onCall: (backend) => metrics.backendCalls.inc({ backend }) });
  const queries = new ServingQueries({ config, reader, clock, maxPageSize: settings.maxPageSize });
  const hub = new UpdatesHub({ redis: subscriber, log, onChannels: (n) => metrics.channels.set(n) });
  config.onChange((table) =>
    metrics.pipelines.set([...table.pipelinesByTenant.values()].reduce((n, m) => n + m.size, 0)),
  );

  let synced = false;
  let draining = false;
  // What started is closed again if a later part fails to start (a port in use, say).
  const started: (() => Promise<unknown>)[] = [
    async () => redis.disconnect(),
    async () => subscriber.disconnect(),
    () => postgres.end(),
  ];
  const start = async () => {
    const health = await serveHealth({
      host: settings.host,
      port: settings.metricsPort,
      registry,
      healthy: () => true,
      ready: () => synced && !draining,
    });
    started.push(() => health.close());
    const http = buildHttpServer({ queries, metrics, log, trustProxy: settings.trustProxy });
    started.push(() => http.close());
    addRestRoutes(http, queries);
    await registerGraphql(http, {
      queries,
      hub,
      metrics,
      maxDepth: settings.graphqlMaxDepth,
      maxCost: settings.graphqlMaxCost,
      subscriberBuffer: settings.subscriberBuffer,
    });
    await http.listen({ host: settings.host, port: settings.httpPort });
    const address = http.server.address();
    const grpc = await startGrpcServer({
      queries,
      hub,
      metrics,
      log,
      host: settings.host,
      port: settings.grpcPort,
      subscriberBuffer: settings.subscriberBuffer,
    });
    return { health, http, address, grpc };
  };
  let parts: Awaited<ReturnType<typeof start>>;
  try {
    parts = await start();
  } catch (err) {
    await Promise.allSettled(started.map((close) => close()));
    throw err;
  }
  const { health, http, address, grpc } = parts;

  const stopping = new AbortController();
  source.start();
  void source.synced(stopping.signal).then(
    () => {
      synced = true;
      metrics.configReady.set(1);
      log.info({ tenants: config.table.tenantsByName.size }, 'configuration synced');
    },
    () => undefined,
  );

  return {
    httpPort: typeof address === 'object' && address ? address.port : settings.httpPort,
    grpcPort: grpc.port,
    metricsPort: health.port,
    get ready() {
      return synced && !draining;
    },
    async stop() {
      draining = true;
      await clock.sleep(Math.min(5_000, settings.drainMs / 4));
      hub.close();
      await Promise.allSettled([http.close(), grpc.stop()]);
      stopping.abort();
      await source.stop().catch(() => undefined);
      redis.disconnect();
      subscriber.disconnect();
      await postgres.end().catch(() => undefined);
      await health.close();
      log.info('stopped');
    },
  };
}
