/**
 * The Redis and Postgres a tenant's Region points at, with admin credentials read from the
 * Secrets the Region references. Connections are kept per Region and rebuilt when the
 * Region or its Secrets change.
 */
import type { Logger } from 'pino';
import type { RegionSpec } from '../../crds/region.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import { PostgresTenantStore } from '../../lib/postgres/postgres-tenant-store.ts';
import { RedisTenantStore } from '../../lib/redis/redis-tenant-store.ts';
import type { BackendEndpoints } from './credentials.ts';
import type { RegionSecrets } from './region-secrets.ts';

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

/**
 * What the backends' connections depend on: the Region's Redis and Postgres spec and the
 * versions of their credentials. Not the Region's resourceVersion, which every probe's
 * status write changes: reconnecting on it closed connections that reconciles were using.
 */
export function backendsFingerprint(
  region: RegionObject,
  redisCredentials: string,
  postgresCredentials: string,
): string {
  return JSON.stringify([region.spec.redis, region.spec.postgres, redisCredentials, postgresCredentials]);
}

interface Entry {
  fingerprint: string;
  backends: Backends;
  close(): Promise<void>;
}

/** Keeps admin connections to the backends of each Region. */
export class RegionBackends implements BackendsSource {
  #secrets: RegionSecrets;
  #log: Logger;
  #entries = new Map<string, Entry>();

  constructor(options: { secrets: RegionSecrets; log: Logger }) {
    this.#secrets = options.secrets;
    this.#log = options.log;
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
    const redisCreds = await this.#secrets.credentials(spec.redis.adminCredentialsSecretRef);
    const pgCreds = await this.#secrets.credentials(spec.postgres.adminCredentialsSecretRef);
    const fingerprint = backendsFingerprint(region, redisCreds.version, pgCreds.version);
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
