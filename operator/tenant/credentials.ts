/**
 * The credentials a tenant's applications use, kept in the Secret `weir-credentials` in the
 * tenant namespace: endpoints, users, passwords and prefixes of the tenant's slice of Redis
 * and Postgres. Passwords are generated once and read back from the Secret afterwards, so a
 * reconcile never rotates them by accident.
 */
import { randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { postgresTenantName } from '../../lib/postgres/postgres-tenant-store.ts';
import { redisKeyPrefix, redisUserName } from '../../lib/redis/redis-tenant-store.ts';

/** A Secret as the operator reads it: base64 data. */
export interface SecretData extends KubernetesObject {
  data?: Record<string, string>;
}

/** Where tenants reach a Region's backends. */
export interface BackendEndpoints {
  redisEndpoint: string;
  postgresEndpoint: string;
  database: string;
}

/** A key of a Secret's data as text, if present. */
export function decode(secret: SecretData | undefined, key: string): string | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** A generated password: 24 random bytes, base64url (printable ASCII, as the Postgres adapter requires). */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/** The passwords stored in the Secret, or new ones for what it lacks. */
export function passwordsFrom(secret: SecretData | undefined): { redis: string; postgres: string } {
  return {
    redis: decode(secret, 'redis-password') ?? newPassword(),
    postgres: decode(secret, 'postgres-password') ?? newPassword(),
  };
}

/** What the credentials Secret holds. */
export function credentialsData(
  tenant: string,
  backends: BackendEndpoints,
  passwords: { redis: string; postgres: string },
): Record<string, string> {
  return {
    'redis-endpoint': backends.redisEndpoint,
    'redis-username': redisUserName(tenant),
    'redis-password': passwords.redis,
    'redis-key-prefix': redisKeyPrefix(tenant),
    'postgres-endpoint': backends.postgresEndpoint,
    'postgres-database': backends.database,
    'postgres-username': postgresTenantName(tenant),
    'postgres-password': passwords.postgres,
    'postgres-schema': postgresTenantName(tenant),
  };
}

/** Whether the Secret already holds exactly `data`. */
export function holds(secret: SecretData | undefined, data: Record<string, string>): boolean {
  return secret !== undefined && Object.entries(data).every(([k, v]) => decode(secret, k) === v);
}
