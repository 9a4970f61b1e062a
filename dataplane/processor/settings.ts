/** The processor's process-level settings, from the environment its pod gives it. */
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { Delivery } from './processor-runtime.ts';

/** How the processor reaches the tenant's Redis, as the tenant (from the Secret weir-credentials). */
export interface RedisCredentials {
  /** `host:port`. */
  endpoint: string;
  username: string;
  password: string;
  /** Every key and channel of the tenant starts with this. */
  keyPrefix: string;
}

/** How the processor reaches the tenant's Postgres schema, as the tenant's own role. */
export interface PostgresCredentials {
  endpoint: string;
  database: string;
  username: string;
  password: string;
  schema: string;
}

/** Where the processor finds its configuration, serves its endpoints and how much it logs. */
export interface ProcessorSettings {
  /** Path of the compiled configuration (WEIR_PIPELINE_CONFIG). */
  configPath: string;
  /** `namespace/name` of the pipeline (WEIR_PIPELINE), for logs written before the configuration is read. */
  pipeline: string | undefined;
  /** Address /healthz, /readyz and /metrics listen on (WEIR_LISTEN_HOST, default 0.0.0.0). */
  host: string;
  /** Their port (WEIR_METRICS_PORT, default 9090: the Deployment's `metrics` port). */
  port: number;
  logLevel: string;
  /** WEIR_PROCESSOR_DELIVERY: exactly-once (default) or at-least-once, which the benchmark compares it with. */
  delivery: Delivery;
  /** Names this replica (HOSTNAME, the pod name). */
  replica: string;
  /** From WEIR_REDIS_*, when all are set. */
  redis: RedisCredentials | undefined;
  /** From WEIR_POSTGRES_*, when all are set. */
  postgres: PostgresCredentials | undefined;
  /** The tenant's Kafka user (WEIR_KAFKA_USERNAME, WEIR_KAFKA_PASSWORD), when the Region's Kafka takes SCRAM credentials. */
  kafkaCredentials: { username: string; password: string } | undefined;
}

function group<K extends string>(env: NodeJS.ProcessEnv, vars: Record<K, string>): Record<K, string> | undefined {
  const values = Object.fromEntries(Object.entries(vars).map(([k, name]) => [k, env[name as string]])) as Record<
    K,
    string | undefined
  >;
  const missing = Object.entries(vars)
    .filter(([k]) => !values[k as K])
    .map(([, name]) => name);
  if (missing.length === Object.keys(vars).length) return undefined;
  if (missing.length)
    throw weirError(
      Errors.InvalidConfig,
      `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set, though other credentials of that backend are`,
    );
  return values as Record<K, string>;
}

/** Reads the settings; a missing or malformed variable is an InvalidConfig error that names it. */
export function loadSettings(env: NodeJS.ProcessEnv): ProcessorSettings {
  const configPath = env.WEIR_PIPELINE_CONFIG;
  if (!configPath)
    throw weirError(
      Errors.InvalidConfig,
      'WEIR_PIPELINE_CONFIG is not set: it must name the compiled pipeline configuration (pipeline.json)',
    );
  const rawPort = env.WEIR_METRICS_PORT ?? '9090';
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw weirError(Errors.InvalidConfig, `WEIR_METRICS_PORT must be a port number, got '${rawPort}'`);
  const delivery = env.WEIR_PROCESSOR_DELIVERY || 'exactly-once';
  if (delivery !== 'exactly-once' && delivery !== 'at-least-once')
    throw weirError(
      Errors.InvalidConfig,
      `WEIR_PROCESSOR_DELIVERY must be exactly-once or at-least-once, got '${delivery}'`,
    );
  return {
    configPath,
    pipeline: env.WEIR_PIPELINE || undefined,
    host: env.WEIR_LISTEN_HOST || '0.0.0.0',
    port,
    logLevel: env.WEIR_LOG_LEVEL || 'info',
    delivery,
    replica: env.HOSTNAME || `pid-${process.pid}`,
    redis: group(env, {
      endpoint: 'WEIR_REDIS_ENDPOINT',
      username: 'WEIR_REDIS_USERNAME',
      password: 'WEIR_REDIS_PASSWORD',
      keyPrefix: 'WEIR_REDIS_KEY_PREFIX',
    }),
    postgres: group(env, {
      endpoint: 'WEIR_POSTGRES_ENDPOINT',
      database: 'WEIR_POSTGRES_DATABASE',
      username: 'WEIR_POSTGRES_USERNAME',
      password: 'WEIR_POSTGRES_PASSWORD',
      schema: 'WEIR_POSTGRES_SCHEMA',
    }),
    kafkaCredentials: group(env, { username: 'WEIR_KAFKA_USERNAME', password: 'WEIR_KAFKA_PASSWORD' }),
  };
}
