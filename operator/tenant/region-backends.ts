/**
 * The Redis and Postgres a tenant's Region points at, with admin credentials read from the
 * Secrets the Region references. Connections are kept per Region and rebuilt when the
 * Region or its Secrets change.
 */
import type { Logger } from 'pino';
import type { RegionSpec } from '../../crds/region.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { PostgresTenantStore } from '../../lib/postgres/postgres-tenant-store.ts';
import { RedisTenantStore } from '../../lib/redis/redis-tenant-store.ts';
import { decode, type BackendEndpoints, type SecretData } from './credentials.ts';

/** A Region as stored. */
export interface RegionObject {
  metadata?: { name?: string; resourceVersion?: string; generation?: number };
  spec: RegionSpec;
}

/** What the operator needs of a Region's Redis: tenants' ACL users, and a ping. */
export type TenantRedis = Pick<RedisTenantStore, 'ensureUser' | 'deleteUser' | 'disableUser' | 'ping'>;
/** What the operator needs of a Region's Postgres: tenants' roles and schemas, and a ping. */
export type TenantPostgres = Pick<PostgresTenantStore, 'ensureTenant' | 'dropTenant' | 'disableLogin' | 'ping'>;

/** Admin clients of one Region's backends, and what tenants need to reach them. */
export interface Backends extends BackendEndpoints {
  region: string;
  redis: TenantRedis;
  postgres: TenantPostgres;
}

/** Where a Region's backends are reached, given it; the reconciler's seam for tests. */
export interface BackendsSource {
  forRegion(region: RegionObject): Promise<Backends>;
}

/** The Region a tenant runs in, or why there is none. */
export type RegionChoice = { region: RegionObject; problem?: undefined } | { region?: undefined; problem: string };

/**
 * The Region of a tenant: the one its status recorded (its backends live there), else the
 * first it names, else the one default Region. Two Regions marked default are a problem to
 * report, not one to resolve by list order.
 */
export function chooseRegion(
  regions: readonly RegionObject[],
  wanted: readonly string[] | undefined,
  recorded?: string,
): RegionChoice {
  const byName = (name: string) => regions.find((r) => r.metadata?.name === name);
  if (recorded) {
    const region = byName(recorded);
    return region
      ? { region }
      : { problem: `Region ${recorded}, where the tenant's backends were created, does not exist` };
  }
  if (wanted?.length) {
    const region = byName(wanted[0]!);
    return region ? { region } : { problem: `Region ${wanted[0]} does not exist` };
  }
  const defaults = defaultRegions(regions);
  if (defaults.length === 1) return { region: defaults[0]! };
  if (defaults.length === 0) return { problem: 'no Region is marked default and the tenant names none' };
  return { problem: `Regions ${defaults.map((r) => r.metadata?.name).join(' and ')} are all marked default; mark one` };
}

/** The Regions marked default, by name. */
export function defaultRegions<R extends RegionObject>(regions: readonly R[]): R[] {
  return regions
    .filter((r) => r.spec.default)
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

interface Entry {
  fingerprint: string;
  backends: Backends;
  close(): Promise<void>;
}

/** How long admin credentials read from a Secret are used before the Secret is read again. */
const CREDENTIALS_TTL_MS = 30_000;

/** Keeps admin connections to the backends of each Region. */
export class RegionBackends implements BackendsSource {
  #client: Pick<KubeClient, 'read'>;
  #platformNamespace: string;
  #clock: Clock;
  #log: Logger;
  #entries = new Map<string, Entry>();
  #credentialsCache = new Map<
    string,
    { at: number; value: { username?: string; password?: string; version: string } }
  >();

  constructor(options: { client: Pick<KubeClient, 'read'>; platformNamespace: string; clock: Clock; log: Logger }) {
    this.#client = options.client;
    this.#platformNamespace = options.platformNamespace;
    this.#clock = options.clock;
    this.#log = options.log;
  }

  /** Admin credentials from a Secret, read at most every CREDENTIALS_TTL_MS so that rotation is picked up without a read per reconcile. */
  async #credentials(
    ref: { namespace: string; name: string } | undefined,
  ): Promise<{ username?: string; password?: string; version: string }> {
    if (!ref) return { version: '' };
    const key = `${ref.namespace}/${ref.name}`;
    // The operator reads Secrets only in its own namespace: admin credentials live there.
    if (ref.namespace !== this.#platformNamespace)
      throw weirError(
        Errors.InvalidSpec,
        `Secret ${key}: a Region's admin credentials must be in the platform namespace ${this.#platformNamespace}`,
      );
    const cached = this.#credentialsCache.get(key);
    const now = this.#clock.monotonic();
    if (cached && now - cached.at < CREDENTIALS_TTL_MS) return cached.value;
    const secret = await this.#client.read<SecretData>({ apiVersion: 'v1', kind: 'Secret', metadata: ref });
    if (!secret) throw weirError(Errors.InvalidSpec, `Secret ${key} does not exist`);
    const value = {
      username: decode(secret, 'username'),
      password: decode(secret, 'password'),
      version: secret.metadata?.resourceVersion ?? '',
    };
    this.#credentialsCache.set(key, { at: now, value });
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
    if (cached) await cached.close();

    const redisEndpoint = spec.redis.endpoints[0]!;
    const redisUrl = new URL(`${spec.redis.tls ? 'rediss' : 'redis'}://${redisEndpoint}`);
    if (redisCreds.username) redisUrl.username = encodeURIComponent(redisCreds.username);
    if (redisCreds.password) redisUrl.password = encodeURIComponent(redisCreds.password);
    const pgUrl = new URL(`postgres://${spec.postgres.primary}/${encodeURIComponent(spec.postgres.database)}`);
    if (pgCreds.username) pgUrl.username = encodeURIComponent(pgCreds.username);
    if (pgCreds.password) pgUrl.password = encodeURIComponent(pgCreds.password);
    if (spec.postgres.sslMode !== 'disable') pgUrl.searchParams.set('sslmode', spec.postgres.sslMode);

    const redis = new RedisTenantStore({ url: redisUrl.toString(), log: this.#log });
    const postgres = new PostgresTenantStore({ connectionString: pgUrl.toString(), log: this.#log });
    const backends: Backends = {
      region: name,
      redis,
      postgres,
      redisEndpoint,
      postgresEndpoint: spec.postgres.pgbouncer ?? spec.postgres.primary,
      database: spec.postgres.database,
    };
    const close = async () => void (await Promise.allSettled([redis.close(), postgres.close()]));
    this.#entries.set(name, { fingerprint, backends, close });
    this.#log.info({ region: name }, 'connected to region backends');
    return backends;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => e.close()));
    this.#entries.clear();
  }
}
