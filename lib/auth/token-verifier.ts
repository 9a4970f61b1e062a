/**
 * Verifies the JWTs sent on behalf of one tenant against the issuers its spec trusts
 * (`spec.auth.issuers`): signature with the issuer's asymmetric keys (jose does the
 * cryptography), `iss`, `aud`, `exp` (required) and `nbf`, and the tenant claim, which must
 * name this tenant. `alg: none` and symmetric algorithms are refused whatever the keys,
 * so a public key can never be used as an HMAC secret (algorithm confusion).
 *
 * Verified tokens are remembered until they expire (at most {@link MAX_CACHE_MS}), so a
 * client that sends thousands of events with one token pays one signature check. A
 * verifier is built per tenant spec: a changed or removed issuer drops the memory with it.
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import type { TokenIssuer } from '../../crds/tenant.ts';
import type { z } from 'zod';
import type { Clock } from '../clock/clock.ts';
import { Errors, weirError, type WeirError } from '../errors/errors.ts';
import type { IssuerKeys, KeyResolver } from './issuer-keys.ts';

/** A trusted issuer as the Tenant spec has it. */
export type IssuerConfig = z.output<typeof TokenIssuer>;

/** The only signature algorithms accepted: asymmetric ones. */
export const ACCEPTED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Longest a verified token is remembered, whatever its expiry. */
export const MAX_CACHE_MS = 5 * 60_000;

/** What a verified token says. */
export interface VerifiedToken {
  tenant: string;
  issuer: string;
  subject: string | undefined;
  claims: JWTPayload;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Options for {@link TenantTokenVerifier}. */
export interface TenantTokenVerifierOptions {
  tenant: string;
  issuers: readonly IssuerConfig[];
  keys: IssuerKeys;
  clock: Clock;
  /** Leeway for exp and nbf against clock skew; 30 s unless given. */
  clockToleranceMs?: number;
  /** Verified tokens remembered; 10,000 unless given. */
  cacheSize?: number;
}

interface Trusted {
  config: IssuerConfig;
  /** The resolver, or why the issuer's inline key set cannot be used. */
  keys: KeyResolver | { broken: string };
}

const invalid = (message: string, cause?: unknown): WeirError => weirError(Errors.InvalidToken, message, { cause });

/** Verifies tokens for one tenant. */
export class TenantTokenVerifier {
  readonly tenant: string;
  #issuers = new Map<string, Trusted>();
  #clock: Clock;
  #toleranceMs: number;
  #cache: LRUCache<string, VerifiedToken>;

  constructor(options: TenantTokenVerifierOptions) {
    this.tenant = options.tenant;
    this.#clock = options.clock;
    this.#toleranceMs = options.clockToleranceMs ?? 30_000;
    this.#cache = new LRUCache({ max: options.cacheSize ?? 10_000 });
    for (const config of options.issuers) {
      let keys: Trusted['keys'];
      try {
        keys = config.jwksUrl ? options.keys.remote(config.jwksUrl) : options.keys.inline(config.jwks ?? '');
      } catch (err) {
        keys = { broken: (err as Error).message };
      }
      this.#issuers.set(config.issuer, { config, keys });
    }
  }

  /** The verified token, or an InvalidToken (401), Forbidden (403) or IssuerUnavailable (503) error. */
  async verify(token: string): Promise<VerifiedToken> {
    const now = this.#clock.now();
    const cached = this.#cache.get(token);
    if (cached && cached.expiresAt + this.#toleranceMs > now) return cached;

    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (err) {
      throw invalid('the token is not a JWT', err);
    }
    if (!(ACCEPTED_ALGORITHMS as readonly string[]).includes(String(header.alg)))
      throw invalid(`the token's algorithm ${JSON.stringify(header.alg)} is not accepted; use an asymmetric one`);
    const trusted = typeof unverified.iss === 'string' ? this.#issuers.get(unverified.iss) : undefined;
    if (!trusted)
      throw invalid(`tokens of issuer ${JSON.stringify(unverified.iss ?? null)} are not accepted for this tenant`);
    if ('broken' in trusted.keys)
      throw invalid(`the tenant's keys for issuer ${trusted.config.issuer} cannot be used: ${trusted.keys.broken}`);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, trusted.keys, {
        issuer: trusted.config.issuer,
        audience: trusted.config.audiences,
        algorithms: [...ACCEPTED_ALGORITHMS],
        requiredClaims: ['exp'],
        clockTolerance: this.#toleranceMs / 1000,
        currentDate: new Date(now),
      }));
    } catch (err) {
      throw describeFailure(err, trusted.config.issuer);
    }
    const claimed = payload[trusted.config.tenantClaim];
    if (claimed === undefined)
      throw invalid(`the token has no ${JSON.stringify(trusted.config.tenantClaim)} claim naming its tenant`);
    if (claimed !== this.tenant)
      throw weirError(
        Errors.Forbidden,
        `the token is for tenant ${JSON.stringify(claimed)}; this pipeline belongs to another tenant`,
      );
    const verified: VerifiedToken = {
      tenant: this.tenant,
      issuer: trusted.config.issuer,
      subject: payload.sub,
      claims: payload,
      expiresAt: payload.exp! * 1000,
    };
    this.#cache.set(token, verified, { ttl: Math.max(1, Math.min(MAX_CACHE_MS, verified.expiresAt - now)) });
    return verified;
  }
}

/** A jose failure as a registry error whose message says what was wrong, never the token itself. */
function describeFailure(err: unknown, issuer: string): WeirError {
  if (err instanceof errors.JWTExpired) return invalid('the token has expired', err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return invalid('the token is not valid yet (nbf)', err);
    if (err.claim === 'aud') return invalid(`the token's audience is not one issuer ${issuer} is accepted for`, err);
    return invalid(`the token's ${err.claim} claim is not acceptable: ${err.reason}`, err);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid("the token's algorithm is not accepted", err);
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid("the token's signature is not valid", err);
  if (err instanceof errors.JWKSNoMatchingKey)
    return invalid(`issuer ${issuer} has no key matching the token's kid and algorithm`, err);
  if (err instanceof errors.JWKSMultipleMatchingKeys)
    return invalid(`issuer ${issuer} has several keys matching the token; the token must name its kid`, err);
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid)
    return invalid('the token is malformed', err);
  // A timeout, a non-200 answer (jose's generic error) or a failed fetch: the issuer, not the token.
  if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || err.code === errors.JOSEError.code)
    return weirError(Errors.IssuerUnavailable, `the keys of issuer ${issuer} could not be fetched`, { cause: err });
  return invalid(`the token cannot be verified with issuer ${issuer}'s keys (${err.code})`, err);
}
