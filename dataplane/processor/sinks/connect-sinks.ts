/**
 * The processor's connections to the tenant's Redis and Postgres, as the tenant, and what is
 * built on them: the result sinks of spec.sinks, the enricher of spec.enrich and the PII
 * masker. A sink or lookup whose backend has no credentials is a configuration error that
 * names what is missing.
 */
import pg from 'pg';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { Errors, weirError } from '../../../lib/errors/errors.ts';
import type { Logger } from '../../../lib/observability/logger.ts';
import { durationMs } from '../../../lib/platform/duration.ts';
import type { ProcessorConfig } from '../../../lib/platform/processor-config.ts';
import { connectRedis } from '../../../lib/redis/redis-connection.ts';
import { Counter } from 'prom-client';
import { noEnrichment, type Enricher } from '../enrichment/enricher.ts';
import { LookupEnricher, type LookupSource } from '../enrichment/lookup-enricher.ts';
import { PostgresLookupSource, RedisHashLookupSource, RedisSharedCache } from '../enrichment/sources.ts';
import { systemClock, type Clock } from '../../../lib/clock/clock.ts';
import { piiMasker } from '../pii-mask.ts';
import type { ProcessorSettings } from '../settings.ts';
import type { ResultSink } from '../task.ts';
import { PostgresResultSink } from './postgres-sink.ts';
import { RedisResultSink } from './redis-sink.ts';

export interface Backends {
  sinks: ResultSink[];
  enricher: Enricher;
  mask: (event: Record<string, unknown>) => void;
  redis: Redis | undefined;
  postgres: pg.Pool | undefined;
  close(): Promise<void>;
}

function hostPort(endpoint: string): { host: string; port: number } {
  const at = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(at + 1)) };
}

/** Opens what the spec needs; nothing connects before its first command. */
export async function connectSinks(options: {
  settings: ProcessorSettings;
  config: ProcessorConfig;
  log: Logger;
  registry: Registry;
  clock?: Clock;
}): Promise<Backends> {
  const { settings, config, log } = options;
  const spec = config.spec;
  const needsRedis =
    Boolean(spec.sinks.redis) || (spec.enrich ?? []).some((e) => e.redis || durationMs(e.cache.l2Ttl) > 0);
  const needsPostgres = Boolean(spec.sinks.postgres) || (spec.enrich ?? []).some((e) => e.postgres);
  const missing = (what: string, vars: string) =>
    weirError(
      Errors.InvalidConfig,
      `${what} needs the tenant's credentials (${vars} from the Secret weir-credentials), and they are not set`,
    );
  if (needsRedis && !settings.redis) throw missing('Redis (sinks.redis or an enrichment)', 'WEIR_REDIS_*');
  if (needsPostgres && !settings.postgres)
    throw missing('Postgres (sinks.postgres or an enrichment)', 'WEIR_POSTGRES_*');
  const tenant = config.tenant.name;
  const redis =
    needsRedis && settings.redis
      ? connectRedis({
          url: `redis://${encodeURIComponent(settings.redis.username)}:${encodeURIComponent(settings.redis.password)}@${settings.redis.endpoint}`,
          connectionName: `weir-processor-${config.pipeline.name}`,
          log,
          commandTimeoutMs: 5_000,
          readyCheck: false,
        })
      : undefined;
  let postgres: pg.Pool | undefined;
  if (needsPostgres && settings.postgres) {
    const { host, port } = hostPort(settings.postgres.endpoint);
    postgres = new pg.Pool({
      host,
      port,
      database: settings.postgres.database,
      user: settings.postgres.username,
      password: settings.postgres.password,
      max: 8,
      application_name: `weir-processor-${config.pipeline.name}`,
      connectionTimeoutMillis: 5_000,
      statement_timeout: 10_000,
    });
    postgres.on('error', (err) => log.warn({ err: { message: err.message } }, 'postgres connection error'));
  }
  const sinks: ResultSink[] = [];
  if (spec.sinks.redis && redis)
    sinks.push(
      new RedisResultSink({ redis, tenant, pipeline: config.pipeline.name, ttlMs: durationMs(spec.sinks.redis.ttl) }),
    );
  if (spec.sinks.postgres && postgres && settings.postgres)
    sinks.push(
      new PostgresResultSink({
        pool: postgres,
        schema: settings.postgres.schema,
        table: spec.sinks.postgres.table,
        log,
      }),
    );
  const enrichments = spec.enrich ?? [];
  let enricher: Enricher = noEnrichment;
  if (enrichments.length) {
    const lookups = new Counter({
      name: 'weir_processor_enrichment_lookups_total',
      help: 'Enrichment lookups by where they were answered (l1: in-process, l2: Redis, source: the table or hash) and whether a record was found; the hit ratio of a level is its lookups over all that reached it.',
      labelNames: ['enrichment', 'level', 'found'],
      registers: [options.registry],
    });
    const sources = new Map<string, LookupSource>(
      enrichments.map((e) => [
        e.name,
        e.postgres
          ? new PostgresLookupSource({
              pool: postgres!,
              schema: settings.postgres!.schema,
              table: e.postgres.table,
              keyColumn: e.postgres.keyColumn,
            })
          : new RedisHashLookupSource({ redis: redis!, tenant, hashPrefix: e.redis!.hashPrefix }),
      ]),
    );
    enricher = new LookupEnricher({
      enrichments,
      sources,
      shared: redis ? new RedisSharedCache({ redis, tenant, pipeline: config.pipeline.name }) : undefined,
      clock: options.clock ?? systemClock,
      onLookup: (enrichment, level, found, count) => lookups.labels(enrichment, level, String(found)).inc(count),
    });
  }
  const key = settings.postgres?.password ?? settings.redis?.password ?? `weir-tenant:${tenant}`;
  if (config.tenant.piiFields.length && !settings.postgres && !settings.redis)
    log.warn('PII fields are masked with a key derived from the tenant name: no tenant credentials were given');
  return {
    sinks,
    enricher,
    mask: piiMasker(config.tenant.piiFields, `weir-pii-mask:${key}`),
    redis,
    postgres,
    close: async () => {
      await Promise.all([redis?.quit().catch(() => redis.disconnect()), postgres?.end()]);
    },
  };
}
