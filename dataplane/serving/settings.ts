/**
 * Serving's settings: flags first, then WEIR_* variables, then defaults. Secrets come only
 * from the environment a Secret fills (WEIR_REDIS_PASSWORD, WEIR_POSTGRES_PASSWORD), never
 * from flags, which show in process lists.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Errors, weirError } from '../../lib/errors/errors.ts';

/** Everything serving is configured with. */
export interface ServingSettings {
  servingId: string;
  host: string;
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  /** With the password from WEIR_REDIS_PASSWORD put in; never logged. */
  redisUrl: string;
  /** With the password from WEIR_POSTGRES_PASSWORD put in; never logged. */
  postgresUrl: string;
  postgresPoolSize: number;
  /** Longest one backend read may take. */
  readTimeoutMs: number;
  maxPageSize: number;
  graphqlMaxDepth: number;
  graphqlMaxCost: number;
  /** Updates a slow subscriber may fall behind by before its subscription is ended. */
  subscriberBuffer: number;
  jwksCooldownMs: number;
  trustProxy: string[];
  drainMs: number;
  logLevel: string;
}

const FLAGS = {
  'serving-id': ['WEIR_SERVING_ID', ''],
  'listen-host': ['WEIR_LISTEN_HOST', '0.0.0.0'],
  'http-port': ['WEIR_HTTP_PORT', '8080'],
  'grpc-port': ['WEIR_GRPC_PORT', '8081'],
  'metrics-port': ['WEIR_METRICS_PORT', '9090'],
  'redis-url': ['WEIR_REDIS_URL', ''],
  'postgres-url': ['WEIR_POSTGRES_URL', ''],
  'postgres-pool-size': ['WEIR_POSTGRES_POOL_SIZE', '16'],
  'read-timeout-ms': ['WEIR_READ_TIMEOUT_MS', '5000'],
  'max-page-size': ['WEIR_MAX_PAGE_SIZE', '1000'],
  'graphql-max-depth': ['WEIR_GRAPHQL_MAX_DEPTH', '8'],
  'graphql-max-cost': ['WEIR_GRAPHQL_MAX_COST', '50000'],
  'subscriber-buffer': ['WEIR_SUBSCRIBER_BUFFER', '1000'],
  'jwks-cooldown-seconds': ['WEIR_JWKS_COOLDOWN_SECONDS', '30'],
  'trust-proxy': ['WEIR_TRUST_PROXY', ''],
  'drain-seconds': ['WEIR_DRAIN_SECONDS', '10'],
  'log-level': ['WEIR_LOG_LEVEL', 'info'],
} as const;

type Flag = keyof typeof FLAGS;

/** Reads the settings; an unknown flag or a bad value is an InvalidConfig error naming the flag. */
export function loadServingSettings(argv: string[], env: NodeJS.ProcessEnv): ServingSettings {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const }])),
  });
  const pick = (flag: Flag): string => (values[flag] as string | undefined) ?? env[FLAGS[flag][0]] ?? FLAGS[flag][1];
  const int = (flag: Flag, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = Number(pick(flag));
    if (!Number.isInteger(n) || n < min || n > max)
      throw weirError(
        Errors.InvalidConfig,
        `--${flag} (${FLAGS[flag][0]}) must be an integer from ${min} to ${max}, got '${pick(flag)}'`,
      );
    return n;
  };
  const url = (flag: Flag, schemes: string[], password: string | undefined, username: string | undefined) => {
    let parsed: URL;
    try {
      parsed = new URL(pick(flag));
      if (!schemes.includes(parsed.protocol)) throw new Error('scheme');
    } catch {
      throw weirError(
        Errors.InvalidConfig,
        `--${flag} (${FLAGS[flag][0]}) must be a ${schemes.map((s) => `${s}//host:port`).join(' or ')} URL`,
      );
    }
    if (password) parsed.password = encodeURIComponent(password);
    if (username) parsed.username = encodeURIComponent(username);
    return parsed.toString();
  };
  return {
    servingId: pick('serving-id') || env.POD_NAME || hostname(),
    host: pick('listen-host'),
    httpPort: int('http-port', 0, 65535),
    grpcPort: int('grpc-port', 0, 65535),
    metricsPort: int('metrics-port', 0, 65535),
    redisUrl: url('redis-url', ['redis:', 'rediss:'], env.WEIR_REDIS_PASSWORD, env.WEIR_REDIS_USERNAME),
    postgresUrl: url(
      'postgres-url',
      ['postgres:', 'postgresql:'],
      env.WEIR_POSTGRES_PASSWORD,
      env.WEIR_POSTGRES_USERNAME,
    ),
    postgresPoolSize: int('postgres-pool-size', 1, 1000),
    readTimeoutMs: int('read-timeout-ms', 10, 600_000),
    maxPageSize: int('max-page-size', 1, 100_000),
    graphqlMaxDepth: int('graphql-max-depth', 2, 64),
    graphqlMaxCost: int('graphql-max-cost', 10, 10_000_000),
    subscriberBuffer: int('subscriber-buffer', 1, 1_000_000),
    jwksCooldownMs: int('jwks-cooldown-seconds', 1) * 1000,
    trustProxy: pick('trust-proxy')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    drainMs: int('drain-seconds', 0) * 1000,
    logLevel: pick('log-level'),
  };
}
