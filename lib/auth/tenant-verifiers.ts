/**
 * A token verifier per tenant, kept in step with the tenants' `spec.auth.issuers`: a
 * verifier is rebuilt only when its tenant's issuers change (so verified tokens stay
 * remembered across unrelated changes) and dropped with its tenant, and the issuer key sets
 * no tenant trusts any more are let go.
 *
 * `authenticate` answers whose token it is without being told: the tenant is the one the
 * token's tenant claim names, if that tenant trusts the token's issuer, and the token is then
 * verified by that tenant's verifier. Services that confine a token to its own tenant's
 * resources (serving) look resources up only under the tenant this returns.
 */
import { decodeJwt } from 'jose';
import type { Clock } from '../clock/clock.ts';
import { Errors, weirError } from '../errors/errors.ts';
import type { BearerResult } from './bearer-token.ts';
import type { IssuerKeys } from './issuer-keys.ts';
import { TenantTokenVerifier, type IssuerConfig, type VerifiedToken } from './token-verifier.ts';

/** A tenant and the issuers it trusts. */
export interface TenantIssuers {
  name: string;
  issuers: readonly IssuerConfig[];
}

/** The verifiers of every live tenant. */
export class TenantVerifiers {
  readonly #keys: IssuerKeys;
  readonly #clock: Clock;
  #verifiers = new Map<string, { auth: string; issuers: readonly IssuerConfig[]; verifier: TenantTokenVerifier }>();

  constructor(options: { keys: IssuerKeys; clock: Clock }) {
    this.#keys = options.keys;
    this.#clock = options.clock;
  }

  /** Brings the verifiers in line with `tenants`, the live tenants now. */
  update(tenants: Iterable<TenantIssuers>): void {
    const seen = new Set<string>();
    const urls = new Set<string>();
    const inline = new Set<string>();
    for (const tenant of tenants) {
      seen.add(tenant.name);
      for (const i of tenant.issuers) (i.jwksUrl ? urls : inline).add(i.jwksUrl ?? i.jwks ?? '');
      const auth = JSON.stringify(tenant.issuers);
      if (this.#verifiers.get(tenant.name)?.auth === auth) continue;
      this.#verifiers.set(tenant.name, {
        auth,
        issuers: tenant.issuers,
        verifier: new TenantTokenVerifier({
          tenant: tenant.name,
          issuers: tenant.issuers,
          keys: this.#keys,
          clock: this.#clock,
        }),
      });
    }
    for (const name of this.#verifiers.keys()) if (!seen.has(name)) this.#verifiers.delete(name);
    this.#keys.retain({ urls, inline });
  }

  /** The verifier of a tenant, if it is live. */
  verifier(tenant: string): TenantTokenVerifier | undefined {
    return this.#verifiers.get(tenant)?.verifier;
  }

  /**
   * The verified token and so its tenant, or Unauthenticated (no token), InvalidToken (a bad
   * one, or one no live tenant accepts) or IssuerUnavailable. The message never says whether
   * a tenant of the claimed name exists.
   */
  async authenticate(bearer: BearerResult): Promise<VerifiedToken> {
    if ('missing' in bearer)
      throw weirError(Errors.Unauthenticated, 'a bearer token is required (Authorization: Bearer <token>)');
    if ('malformed' in bearer) throw weirError(Errors.InvalidToken, bearer.malformed);
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(bearer.token);
    } catch (err) {
      throw weirError(Errors.InvalidToken, 'the token is not a JWT', { cause: err });
    }
    const refused = () =>
      weirError(
        Errors.InvalidToken,
        `no tenant accepts this token: its issuer ${JSON.stringify(claims.iss ?? null)} is not trusted for the tenant it names`,
      );
    for (const [name, { issuers, verifier }] of this.#verifiers) {
      const issuer = issuers.find((i) => i.issuer === claims.iss);
      if (issuer && claims[issuer.tenantClaim] === name) return verifier.verify(bearer.token);
    }
    throw refused();
  }
}
