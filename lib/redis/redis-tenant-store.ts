/**
 * Each tenant's slice of Redis: an ACL user that can only touch keys and pub/sub channels
 * under `tenant:<name>:`. The Tenant controller calls it on every reconcile, so every
 * method converges to the desired state and is safe to repeat.
 *
 * Passwords are sent to Redis only as SHA-256 hashes (`#<hex>` rules), never in the clear,
 * and neither they nor their hashes are logged or put in thrown errors.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { assertTenantName } from '../../crds/tenant.ts';
import { connectRedis } from './redis-connection.ts';

/** Options for {@link RedisTenantStore}. */
export interface RedisTenantStoreOptions {
  /** Admin connection, `redis://[user:pass@]host:port`; the user must be allowed the ACL and CLIENT commands. */
  url: string;
  log?: Logger;
}

/** What a tenant's applications need to reach their slice of Redis, besides the password. */
export interface RedisTenantUser {
  user: string;
  /** Every key and channel of the tenant starts with this. */
  keyPrefix: string;
}

/** What {@link RedisTenantStore.deleteUser} found and removed. */
export interface RedisTenantDeletion {
  userExisted: boolean;
  connectionsKilled: number;
  keysDeleted: number;
}

/**
 * Commands a tenant may not run although they are in neither @admin nor @dangerous: each
 * reaches past the key and channel patterns, which Redis checks only on key and channel
 * arguments. Everything else outside @admin and @dangerous is allowed; Lua scripts
 * (EVAL, FCALL) run with the caller's permissions, so they stay inside the prefix too.
 */
export const CROSS_TENANT_COMMANDS: readonly string[] = [
  // Walk or count the whole keyspace: SCAN has no key argument, so ~patterns do not filter it.
  'scan',
  'randomkey',
  'dbsize',
  // Reach other logical databases (COPY has a DB option), where deleteUser's cleanup never looks.
  'select',
  'move',
  'copy',
  // PUBSUB CHANNELS / NUMSUB / SHARDCHANNELS list every tenant's channels.
  'pubsub',
  // BCAST PREFIX tenant:other: pushes the names of another tenant's keys as they change.
  'client|tracking',
  // The script cache and the running script are server-wide; SCRIPT DEBUG SYNC blocks the server.
  'script|flush',
  'script|kill',
  'script|debug',
  // The function library is server-wide: LIST and DUMP read others' code, FLUSH and DELETE remove it.
  'function',
  // MEMORY STATS / DOCTOR / PURGE describe or act on the whole server (MEMORY USAGE is allowed back).
  'memory',
  // In cluster mode these list or count every tenant's keys in a slot.
  'cluster|getkeysinslot',
  'cluster|countkeysinslot',
];

/** The ACL user of a tenant. */
export function redisUserName(tenant: string): string {
  return `weir-tenant-${tenant}`;
}

/** The prefix of every key and channel of a tenant. */
export function redisKeyPrefix(tenant: string): string {
  return `tenant:${tenant}:`;
}

/**
 * The ACL rules of a tenant's user, password aside. They start from nothing for every part
 * of the user (keys, channels, selectors, commands) so that applying them repairs any drift.
 */
export function tenantAclRules(tenant: string): string[] {
  const prefix = redisKeyPrefix(tenant);
  return [
    'on',
    'sanitize-payload',
    'resetkeys',
    `~${prefix}*`,
    'resetchannels',
    `&${prefix}*`,
    'clearselectors',
    'nocommands',
    '+@all',
    '-@admin',
    '-@dangerous',
    ...CROSS_TENANT_COMMANDS.map((command) => `-${command}`),
    '+memory|usage',
  ];
}

/** Manages tenants' ACL users on one Redis server through an admin connection. */
export class RedisTenantStore {
  #redis: Redis;
  #log: Logger;

  constructor(options: RedisTenantStoreOptions) {
    this.#log = (options.log ?? pino({ enabled: false })).child({ adapter: 'redis-tenant-store' });
    // Fail a command after one reconnect rather than queueing it forever: the reconciler retries with backoff.
    this.#redis = connectRedis({ url: options.url, connectionName: 'weir-operator', log: this.#log });
  }

  /** Creates or updates the tenant's ACL user; sets the password only if it changed. */
  async ensureUser({ tenant, password }: { tenant: string; password: string }): Promise<RedisTenantUser> {
    assertTenantName(tenant);
    if (typeof password !== 'string' || password.length === 0)
      throw new TypeError('the password must be a non-empty string');
    const user = redisUserName(tenant);
    const hash = createHash('sha256').update(password).digest('hex');
    const current = await this.#getUser(user);
    const passwordCurrent = current?.passwords.length === 1 && current.passwords[0] === hash;
    const rules = tenantAclRules(tenant);
    if (!passwordCurrent) rules.push('resetpass', `#${hash}`);
    try {
      // One ACL SETUSER applies all rules or none, so a tenant is never left half-configured.
      await this.#redis.call('ACL', 'SETUSER', user, ...rules);
    } catch (err) {
      // ioredis attaches the command's arguments to its errors, and they hold the password hash.
      throw new Error(`ACL SETUSER ${user} failed: ${(err as Error).message.replace(/#[0-9a-f]{64}/g, '#<redacted>')}`);
    }
    const log = this.#log.child({ tenant, user });
    if (!current) log.info('created redis user');
    else if (!passwordCurrent) log.info('set redis user password');
    else log.debug('redis user up to date');
    return { user, keyPrefix: redisKeyPrefix(tenant) };
  }

  /**
   * Turns the tenant's user off and disconnects its clients, keeping the user and its keys:
   * what a deleted Tenant gets first, whatever its deletion policy, so that its credentials
   * stop working even if the rest of the cleanup never happens. Resolves with whether the
   * user existed.
   */
  async disableUser(tenant: string): Promise<boolean> {
    assertTenantName(tenant);
    const user = redisUserName(tenant);
    if ((await this.#getUser(user)) === undefined) return false;
    await this.#redis.call('ACL', 'SETUSER', user, 'off');
    const connectionsKilled = Number(await this.#redis.call('CLIENT', 'KILL', 'USER', user));
    this.#log.info({ tenant, user, connectionsKilled }, 'disabled redis user');
    return true;
  }

  /**
   * Disables the tenant's user, disconnects its clients, optionally unlinks its keys, and
   * removes the user. Does nothing for a user that is already gone (keys are still deleted
   * if asked, so that a retry after a failure finishes the job).
   */
  async deleteUser(tenant: string, options: { deleteKeys?: boolean } = {}): Promise<RedisTenantDeletion> {
    assertTenantName(tenant);
    const user = redisUserName(tenant);
    const userExisted = (await this.#getUser(user)) !== undefined;
    let connectionsKilled = 0;
    if (userExisted) {
      // Disabled first so that no client can log in between the kill and the deletion.
      await this.#redis.call('ACL', 'SETUSER', user, 'off');
      connectionsKilled = Number(await this.#redis.call('CLIENT', 'KILL', 'USER', user));
    }
    const keysDeleted = options.deleteKeys ? await this.#unlinkKeys(`${redisKeyPrefix(tenant)}*`) : 0;
    if (userExisted) await this.#redis.call('ACL', 'DELUSER', user);
    this.#log.info({ tenant, user, userExisted, connectionsKilled, keysDeleted }, 'deleted redis user');
    return { userExisted, connectionsKilled, keysDeleted };
  }

  /** Round-trip time of a PING, in milliseconds. */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.#redis.ping();
    return performance.now() - started;
  }

  /** Closes the admin connection. */
  async close(): Promise<void> {
    if (this.#redis.status === 'ready') await this.#redis.quit();
    else this.#redis.disconnect();
  }

  /** The user's password hashes, or undefined if there is no such user. */
  async #getUser(user: string): Promise<{ passwords: string[] } | undefined> {
    const reply = await this.#redis.call('ACL', 'GETUSER', user);
    if (reply === null) return undefined;
    // RESP2 gives a flat list of field names and values.
    const fields = reply as unknown[];
    const at = fields.indexOf('passwords');
    const passwords = at === -1 ? [] : (fields[at + 1] as string[]);
    return { passwords };
  }

  async #unlinkKeys(pattern: string): Promise<number> {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) deleted += await this.#redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    return deleted;
  }
}
