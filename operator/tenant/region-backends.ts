/**
 * The Redis and Postgres a tenant's Region points at, with admin credentials read from the
 * Secrets the Region references. Connections are kept per Region and rebuilt when the
 * Region or its Secrets change.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RegionSpec } from '../../crds/region.ts';
import { PostgresTenantStore } from '../../lib/postgres/postgres-tenant-store.ts';
import { RedisTenantStore } from '../../lib/redis/redis-tenant-store.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';

/** A Region as stored. */
export interface RegionObject {
  metadata?: { name?: string; resourceVersion?: string; creationTimestamp?: Date | string };
  spec: RegionSpec;
}

/** Admin clients of one Region's backends, and what tenants need to reach them. */
export interface Backends {
  region: string;
  redis: RedisTenantStore;
  postgres: PostgresTenantStore;
  /** host:port tenants connect to. */
  redisEndpoint: string;
  postgresEndpoint: string;
  database: string;
}

interface Entry {
  fingerprint: string;
  backends: Backends;
}

/** How long admin credentials read from a Secret are used before the Secret is read again. */
const CREDENTIALS_TTL_MS = 30_000;

/** A key of a Secret's data as text, if present. */
export function decode(secret: V1Secret | undefined, key: string): string | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/**
 * Picks the Region of a tenant: the first it names, else the default Region (the oldest
 * one if several claim to be the default).
 */
export function chooseRegion<R extends RegionObject>(
  regions: readonly R[],
  wanted: readonly string[] | undefined,
): R | undefined {
  if (wanted?.length) return regions.find((r) => r.metadata?.name === wanted[0]);
  const defaults = regions.filter((r) => r.spec.default);
  return defaults.sort((a, b) =>
    String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
  )[0];
}

/** Keeps admin connections to the backends of each Region. */
export class RegionBackends {
  #core: CoreV1Api;
  #log: Logger;
  #entries = new Map<string, Entry>();
  #credentialsCache = new Map<
    string,
    { at: number; value: { username?: string; password?: string; version: string } }
  >();

  constructor(options: { kubeConfig: KubeConfig; log: Logger }) {
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#log = options.log;
  }

  /** Admin credentials from a Secret, read at most every CREDENTIALS_TTL_MS so that rotation is picked up without a read per reconcile. */
  async #credentials(
    ref: { namespace: string; name: string } | undefined,
  ): Promise<{ username?: string; password?: string; version: string }> {
    if (!ref) return { version: '' };
    const key = `${ref.namespace}/${ref.name}`;
    const cached = this.#credentialsCache.get(key);
    if (cached && Date.now() - cached.at < CREDENTIALS_TTL_MS) return cached.value;
    const secret = await this.#core.readNamespacedSecret({ namespace: ref.namespace, name: ref.name });
    const value = {
      username: decode(secret, 'username'),
      password: decode(secret, 'password'),
      version: secret.metadata?.resourceVersion ?? '',
    };
    this.#credentialsCache.set(key, { at: Date.now(), value });
    return value;
  }

  /** Clients for the Region's backends; throws an Unsupported error for what Weir cannot drive yet. */
  async forRegion(region: RegionObject): Promise<Backends> {
    const name = region.metadata?.name ?? '';
    const spec = region.spec;
    if (spec.redis.mode !== 'Standalone')
      throw weirError(
        Errors.Unsupported,
        `Region ${name}: Redis mode ${spec.redis.mode} is not supported yet; use Standalone`,
      );
    const redisCreds = await this.#credentials(spec.redis.adminCredentialsSecretRef);
    const pgCreds = await this.#credentials(spec.postgres.adminCredentialsSecretRef);
    const fingerprint = [region.metadata?.resourceVersion, redisCreds.version, pgCreds.version].join('/');
    const cached = this.#entries.get(name);
    if (cached?.fingerprint === fingerprint) return cached.backends;
    if (cached) await this.#close(cached);

    const redisEndpoint = spec.redis.endpoints[0]!;
    const redisUrl = new URL(`${spec.redis.tls ? 'rediss' : 'redis'}://${redisEndpoint}`);
    if (redisCreds.username) redisUrl.username = encodeURIComponent(redisCreds.username);
    if (redisCreds.password) redisUrl.password = encodeURIComponent(redisCreds.password);
    const pgUrl = new URL(`postgres://${spec.postgres.primary}/${encodeURIComponent(spec.postgres.database)}`);
    if (pgCreds.username) pgUrl.username = encodeURIComponent(pgCreds.username);
    if (pgCreds.password) pgUrl.password = encodeURIComponent(pgCreds.password);
    if (spec.postgres.sslMode !== 'disable') pgUrl.searchParams.set('sslmode', spec.postgres.sslMode);

    const backends: Backends = {
      region: name,
      redis: new RedisTenantStore({ url: redisUrl.toString(), log: this.#log }),
      postgres: new PostgresTenantStore({ connectionString: pgUrl.toString(), log: this.#log }),
      redisEndpoint,
      postgresEndpoint: spec.postgres.pgbouncer ?? spec.postgres.primary,
      database: spec.postgres.database,
    };
    this.#entries.set(name, { fingerprint, backends });
    this.#log.info({ region: name }, 'connected to region backends');
    return backends;
  }

  async #close(entry: Entry): Promise<void> {
    await Promise.allSettled([entry.backends.redis.close(), entry.backends.postgres.close()]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => this.#close(e)));
    this.#entries.clear();
  }
}
