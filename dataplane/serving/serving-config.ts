/**
 * Serving's live configuration: the table built from the watched Tenants and Pipelines, and
 * the tenants' token verifiers. Every request is first authenticated to a tenant — the one
 * its token names and whose issuers trust it — and then sees only that tenant's pipelines:
 * another tenant's pipeline and one that does not exist get the same NotFound, so no token
 * learns what other tenants have.
 */
import type { BearerResult } from '../../lib/auth/bearer-token.ts';
import type { IssuerKeys } from '../../lib/auth/issuer-keys.ts';
import { TenantVerifiers } from '../../lib/auth/tenant-verifiers.ts';
import type { VerifiedToken } from '../../lib/auth/token-verifier.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { PipelineObject, TenantEntry, TenantObject } from '../../lib/platform/watched-objects.ts';
import {
  buildServingTable,
  pipelinesOf,
  type ServedAggregation,
  type ServedPipeline,
  type ServingTable,
} from './serving-table.ts';

/** Who asks: a verified token and its tenant. */
export interface Principal {
  tenant: TenantEntry;
  token: VerifiedToken;
}

/** The current table and verifiers. */
export class ServingConfig {
  #table: ServingTable = buildServingTable([], []);
  #verifiers: TenantVerifiers;
  #listeners: ((table: ServingTable) => void)[] = [];

  constructor(options: { keys: IssuerKeys; clock: Clock }) {
    this.#verifiers = new TenantVerifiers(options);
  }

  get table(): ServingTable {
    return this.#table;
  }

  /** Rebuilds the table from the objects as cached now. */
  update(tenants: readonly TenantObject[], pipelines: readonly PipelineObject[]): void {
    const table = buildServingTable(tenants, pipelines);
    this.#verifiers.update(
      [...table.tenantsByName.values()].map((t) => ({ name: t.name, issuers: t.spec.auth?.issuers ?? [] })),
    );
    this.#table = table;
    for (const fn of this.#listeners) fn(table);
  }

  /** Called with each new table. */
  onChange(fn: (table: ServingTable) => void): void {
    this.#listeners.push(fn);
  }

  /** The principal of a request, or Unauthenticated / InvalidToken / IssuerUnavailable. */
  async authenticate(bearer: BearerResult): Promise<Principal> {
    const token = await this.#verifiers.authenticate(bearer);
    const tenant = this.#table.tenantsByName.get(token.tenant);
    // The verifier outlived its tenant by a moment (a table swap in between).
    if (!tenant) throw weirError(Errors.InvalidToken, 'no tenant accepts this token');
    return { tenant, token };
  }

  /** The principal's pipelines. */
  pipelines(principal: Principal): ServedPipeline[] {
    return [...pipelinesOf(this.#table, principal.tenant.name).values()];
  }

  /** The principal's pipeline `namespace/name`, or NotFound — also when it is another tenant's. */
  pipeline(principal: Principal, namespace: string, name: string): ServedPipeline {
    const found = pipelinesOf(this.#table, principal.tenant.name).get(`${namespace}/${name}`);
    if (!found) throw weirError(Errors.NotFound, `no pipeline ${namespace}/${name}`);
    return found;
  }

  /** The pipeline's aggregation, or NotFound. */
  aggregation(pipeline: ServedPipeline, name: string): ServedAggregation {
    const found = pipeline.aggregations.get(name);
    if (!found) throw weirError(Errors.NotFound, `pipeline ${pipeline.key} has no aggregation ${name}`);
    return found;
  }
}
