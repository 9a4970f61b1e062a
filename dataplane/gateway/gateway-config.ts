/**
 * The gateway's live configuration: the routing table built from the watched Tenants,
 * Pipelines and RateLimitPolicies, and a token verifier per tenant, rebuilt when the
 * tenant's issuers change (and only then, so verified tokens stay remembered across
 * unrelated changes). Requests read whatever table is current; a change applies to the
 * next request without a restart.
 */
import type { Clock } from '../../lib/clock/clock.ts';
import type { IssuerKeys } from '../../lib/auth/issuer-keys.ts';
import type { TenantTokenVerifier } from '../../lib/auth/token-verifier.ts';
import { TenantVerifiers } from '../../lib/auth/tenant-verifiers.ts';
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
  #verifiers: TenantVerifiers;
  #listeners: ((table: RoutingTable) => void)[] = [];

  constructor(options: GatewayConfigOptions) {
    this.#o = options;
    this.#verifiers = new TenantVerifiers({ keys: options.keys, clock: options.clock });
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
    this.#verifiers.update(
      [...table.tenantsByNamespace.values()].map((t) => ({ name: t.name, issuers: t.spec.auth?.issuers ?? [] })),
    );
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
    return this.#verifiers.verifier(tenant);
  }
}
