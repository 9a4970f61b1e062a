/**
 * The gateway's settings: flags first, then WEIR_* variables, then defaults. Secrets come
 * only from the environment a Secret fills (WEIR_REDIS_PASSWORD, WEIR_KAFKA_PASSWORD), never
 * from flags, which show in process lists.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { KafkaConnection } from '../../lib/kafka/kafka-connection.ts';

/** Everything the gateway is configured with. */
export interface GatewaySettings {
  gatewayId: string;
  platformNamespace: string;
  host: string;
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  /** Brokers, and the gateway's SCRAM user (WEIR_KAFKA_USERNAME, WEIR_KAFKA_PASSWORD) and TLS where set; never logged. */
  kafka: KafkaConnection;
  kafkaClient: 'platformatic' | 'kafkajs';
  /** With the password from WEIR_REDIS_PASSWORD put in; never logged. */
  redisUrl: string;
  bodyLimitBytes: number;
  maxBatchEvents: number;
  maxDepth: number;
  maxMessageBytes: number;
  produceTimeoutMs: number;
  limiterTimeoutMs: number;
  quotaFailClosed: boolean;
  idempotencyTtlMs: number;
  heartbeatMs: number;
  /** How long a stream's place under a connection cap outlives a gateway that stopped renewing it. */
  connectionLeaseMs: number;
  /** Least time between two fetches of one issuer's key set, a new key id included. */
  jwksCooldownMs: number;
  maxInFlightPerStream: number;
  drainMs: number;
  trustProxy: string[];
  reportApplied: boolean;
  logLevel: string;
}

const FLAGS = {
  'gateway-id': ['WEIR_GATEWAY_ID', ''],
  'platform-namespace': ['WEIR_PLATFORM_NAMESPACE', ''],
  'listen-host': ['WEIR_LISTEN_HOST', '0.0.0.0'],
  'http-port': ['WEIR_HTTP_PORT', '8080'],
  'grpc-port': ['WEIR_GRPC_PORT', '8081'],
  'metrics-port': ['WEIR_METRICS_PORT', '9090'],
  'kafka-brokers': ['WEIR_KAFKA_BROKERS', ''],
  'kafka-client': ['WEIR_KAFKA_CLIENT', 'platformatic'],
  'kafka-sasl-mechanism': ['WEIR_KAFKA_SASL_MECHANISM', 'SCRAM-SHA-512'],
  'kafka-tls': ['WEIR_KAFKA_TLS', 'false'],
  'redis-url': ['WEIR_REDIS_URL', ''],
  'body-limit-bytes': ['WEIR_BODY_LIMIT_BYTES', String(1024 * 1024)],
  'max-batch-events': ['WEIR_MAX_BATCH_EVENTS', '1000'],
  'max-depth': ['WEIR_MAX_DEPTH', '32'],
  'max-message-bytes': ['WEIR_MAX_MESSAGE_BYTES', String(1024 * 1024)],
  'produce-timeout-ms': ['WEIR_PRODUCE_TIMEOUT_MS', '10000'],
  'limiter-timeout-ms': ['WEIR_LIMITER_TIMEOUT_MS', '100'],
  'quota-store-failure': ['WEIR_QUOTA_STORE_FAILURE', 'FailOpen'],
  'idempotency-ttl-seconds': ['WEIR_IDEMPOTENCY_TTL_SECONDS', '86400'],
  'heartbeat-seconds': ['WEIR_HEARTBEAT_SECONDS', '30'],
  'connection-lease-seconds': ['WEIR_CONNECTION_LEASE_SECONDS', '30'],
  'jwks-cooldown-seconds': ['WEIR_JWKS_COOLDOWN_SECONDS', '30'],
  'max-in-flight-per-stream': ['WEIR_MAX_IN_FLIGHT_PER_STREAM', '256'],
  'drain-seconds': ['WEIR_DRAIN_SECONDS', '20'],
  'trust-proxy': ['WEIR_TRUST_PROXY', ''],
  'report-applied': ['WEIR_REPORT_APPLIED', 'true'],
  'log-level': ['WEIR_LOG_LEVEL', 'info'],
} as const;

type Flag = keyof typeof FLAGS;

/** Reads the settings; an unknown flag or a bad value is an InvalidConfig error naming the flag. */
export function loadGatewaySettings(argv: string[], env: NodeJS.ProcessEnv): GatewaySettings {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const }])),
  });
  const pick = (flag: Flag): string => (values[flag] as string | undefined) ?? env[FLAGS[flag][0]] ?? FLAGS[flag][1];
  const bad = (flag: Flag, why: string) =>
    weirError(Errors.InvalidConfig, `--${flag} (${FLAGS[flag][0]}) ${why}, got '${pick(flag)}'`);
  const int = (flag: Flag, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = Number(pick(flag));
    if (!Number.isInteger(n) || n < min || n > max) throw bad(flag, `must be an integer from ${min} to ${max}`);
    return n;
  };
  const oneOf = <T extends string>(flag: Flag, allowed: readonly T[]): T => {
    const v = pick(flag);
    if (!(allowed as readonly string[]).includes(v)) throw bad(flag, `must be one of ${allowed.join(', ')}`);
    return v as T;
  };
  const brokers = pick('kafka-brokers')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0) throw bad('kafka-brokers', 'must list the Kafka bootstrap servers (host:port,...)');
  const rawRedis = pick('redis-url');
  let redis: URL;
  try {
    redis = new URL(rawRedis);
    if (redis.protocol !== 'redis:' && redis.protocol !== 'rediss:') throw new Error('scheme');
  } catch {
    throw weirError(
      Errors.InvalidConfig,
      '--redis-url (WEIR_REDIS_URL) must be redis://host:port or rediss://host:port',
    );
  }
  if (env.WEIR_REDIS_PASSWORD) redis.password = encodeURIComponent(env.WEIR_REDIS_PASSWORD);
  const kafkaUser = env.WEIR_KAFKA_USERNAME ?? '';
  const kafkaPassword = env.WEIR_KAFKA_PASSWORD ?? '';
  if (Boolean(kafkaUser) !== Boolean(kafkaPassword))
    throw weirError(
      Errors.InvalidConfig,
      'WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD must be set together (the gateway’s Kafka user and its password)',
    );
  const mechanism = oneOf('kafka-sasl-mechanism', ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const);
  const tls = oneOf('kafka-tls', ['true', 'false'] as const) === 'true';
  if (env.WEIR_REDIS_USERNAME) redis.username = encodeURIComponent(env.WEIR_REDIS_USERNAME);
  return {
    gatewayId: pick('gateway-id') || env.POD_NAME || hostname(),
    platformNamespace: pick('platform-namespace') || env.POD_NAMESPACE || 'weir-system',
    host: pick('listen-host'),
    httpPort: int('http-port', 0, 65535),
    grpcPort: int('grpc-port', 0, 65535),
    metricsPort: int('metrics-port', 0, 65535),
    kafka: {
      brokers,
      ...(kafkaUser ? { sasl: { mechanism, username: kafkaUser, password: kafkaPassword } } : {}),
      ...(tls ? { tls } : {}),
    },
    kafkaClient: oneOf('kafka-client', ['platformatic', 'kafkajs'] as const),
    redisUrl: redis.toString(),
    bodyLimitBytes: int('body-limit-bytes', 1024, 64 * 1024 * 1024),
    maxBatchEvents: int('max-batch-events', 1, 100_000),
    maxDepth: int('max-depth', 2, 512),
    maxMessageBytes: int('max-message-bytes', 1024, 64 * 1024 * 1024),
    produceTimeoutMs: int('produce-timeout-ms', 100),
    limiterTimeoutMs: int('limiter-timeout-ms', 5, 10_000),
    quotaFailClosed: oneOf('quota-store-failure', ['FailOpen', 'FailClosed'] as const) === 'FailClosed',
    idempotencyTtlMs: int('idempotency-ttl-seconds', 1) * 1000,
    heartbeatMs: int('heartbeat-seconds', 1) * 1000,
    connectionLeaseMs: int('connection-lease-seconds', 3) * 1000,
    jwksCooldownMs: int('jwks-cooldown-seconds', 1) * 1000,
    maxInFlightPerStream: int('max-in-flight-per-stream', 1, 100_000),
    drainMs: int('drain-seconds', 0) * 1000,
    trustProxy: pick('trust-proxy')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    reportApplied: oneOf('report-applied', ['true', 'false'] as const) === 'true',
    logLevel: pick('log-level'),
  };
}
