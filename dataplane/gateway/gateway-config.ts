/**
 * The gateway's live configuration: the routing table built from the watched Tenants,
 * Pipelines and RateLimitPolicies, and a token verifier per tenant, rebuilt when the
 * tenant's issuers change (and only then, so verified tokens stay remembered across
 * unrelated changes). Requests read whatever table is current; a change applies to the
 * next request without a restart.
 */
import type { Clock } from '../../lib/clock/clock.ts';
import type { IssuerKeys } from '../../lib/auth/issuer-keys.ts';
import { TenantTokenVerifier } from '../../lib/auth/token-verifier.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { PolicyObject } from '../../lib/ratelimit/policy-set.ts';
import {
  buildRoutingTable,
  type PipelineObject,
  type PipelineRoute,
  type RoutingTable,
  type TenantEntry,
  type TenantObject,
} from './routing-table.ts';

/** Options for {@link GatewayConfig}. */
export interface GatewayConfigOptions {
  keys: IssuerKeys;
  clock: Clock;
  log: Logger;
}

/** The current routing table and token verifiers. */
export class GatewayConfig {
  #o: GatewayConfigOptions;
  #table: RoutingTable = buildRoutingTable([], [], []);
  #verifiers = new Map<string, { auth: string; verifier: TenantTokenVerifier }>();
  #listeners: ((table: RoutingTable) => void)[] = [];

  constructor(options: GatewayConfigOptions) {
    this.#o = options;
  }

  /** The table requests are served from now. */
  get table(): RoutingTable {
    return this.#table;
  }

  /** Rebuilds the table from the objects as cached now. */
  update(
    tenants: readonly TenantObject[],
    pipelines: readonly PipelineObject[],
    policies: readonly PolicyObject[],
  ): void {
    const table = buildRoutingTable(tenants, pipelines, policies);
    const seen = new Set<string>();
    const urls = new Set<string>();
    const inline = new Set<string>();
    for (const tenant of table.tenantsByNamespace.values()) {
      seen.add(tenant.name);
      const issuers = tenant.spec.auth?.issuers ?? [];
      for (const i of issuers) (i.jwksUrl ? urls : inline).add(i.jwksUrl ?? i.jwks ?? '');
      const auth = JSON.stringify(issuers);
      if (this.#verifiers.get(tenant.name)?.auth === auth) continue;
      this.#verifiers.set(tenant.name, {
        auth,
        verifier: new TenantTokenVerifier({ tenant: tenant.name, issuers, keys: this.#o.keys, clock: this.#o.clock }),
      });
    }
    for (const name of this.#verifiers.keys()) if (!seen.has(name)) this.#verifiers.delete(name);
    this.#o.keys.retain({ urls, inline });
    for (const [key, message] of table.broken)
      this.#o.log.warn({ policy: key, err: { message } }, 'rate-limit policy not applied: its IP lists do not compile');
    this.#table = table;
    for (const fn of this.#listeners) fn(table);
  }

  /** Called with each new table. */
  onChange(fn: (table: RoutingTable) => void): void {
    this.#listeners.push(fn);
  }

  route(namespace: string, name: string): PipelineRoute | undefined {
    return this.#table.pipelines.get(`${namespace}/${name}`);
  }

  tenantOf(namespace: string): TenantEntry | undefined {
    return this.#table.tenantsByNamespace.get(namespace);
  }

  verifier(tenant: string): TenantTokenVerifier | undefined {
    return this.#verifiers.get(tenant)?.verifier;
  }
}
