/**
 * The public keys of token issuers: a JSON Web Key Set fetched from the issuer's URL
 * (jose's remote key set: cached, fetched again after `cacheMaxAgeMs`, and when a token
 * names a key the cache lacks — a rotation — but at most once per `cooldownMs`, so forged
 * key ids cannot make the gateway hammer the issuer), or one given inline.
 *
 * Only asymmetric keys are kept. A symmetric (`oct`) key would be a shared secret written
 * into a Tenant's spec, readable by anyone who may read the Tenant, and accepting HMAC
 * algorithms next to RSA ones is what algorithm-confusion attacks feed on.
 *
 * A URL is fetched by the gateway with its own network position, so a tenant could point
 * it anywhere: fetches follow no redirects, give up after `timeoutMs` and read at most
 * {@link MAX_JWKS_BYTES}, and nothing of the answer but "not a key set" reaches the tenant.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';

/** Resolves the key a token's header asks for. */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** Largest key set read from an issuer. */
export const MAX_JWKS_BYTES = 512 * 1024;

/** Key types of asymmetric algorithms: RSA, elliptic curves, Edwards curves. */
const ASYMMETRIC_KEY_TYPES = new Set(['RSA', 'EC', 'OKP']);

/** Options for {@link IssuerKeys}. */
export interface IssuerKeysOptions {
  /** How long a fetched key set is used before it is fetched again; 10 min unless given. */
  cacheMaxAgeMs?: number;
  /** Least time between two fetches of one URL, including those for unknown key ids; 30 s unless given. */
  cooldownMs?: number;
  /** How long one fetch may take; 5 s unless given. */
  timeoutMs?: number;
  /** Called after every fetch attempt with the URL and its outcome, for metrics. */
  onFetch?: (url: string, outcome: 'ok' | 'error') => void;
  /** The fetch used; the global one unless given. */
  fetch?: typeof fetch;
}

/** A key set without symmetric keys; throws on anything that is not a key set. */
export function asymmetricKeySet(jwks: unknown): JSONWebKeySet {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new TypeError('not a JSON Web Key Set: it has no keys array');
  return {
    keys: keys.filter(
      (k): k is JSONWebKeySet['keys'][number] =>
        typeof k === 'object' && k !== null && ASYMMETRIC_KEY_TYPES.has((k as { kty?: unknown }).kty as string),
    ),
  };
}

/** Key sets per issuer URL, shared by every tenant that trusts the same issuer. */
export class IssuerKeys {
  #remote = new Map<string, KeyResolver>();
  #inline = new Map<string, KeyResolver>();
  #options: Required<Omit<IssuerKeysOptions, 'onFetch'>> & Pick<IssuerKeysOptions, 'onFetch'>;

  constructor(options: IssuerKeysOptions = {}) {
    this.#options = {
      cacheMaxAgeMs: options.cacheMaxAgeMs ?? 10 * 60_000,
      cooldownMs: options.cooldownMs ?? 30_000,
      timeoutMs: options.timeoutMs ?? 5_000,
      fetch: options.fetch ?? fetch,
      onFetch: options.onFetch,
    };
  }

  /** The resolver for a JWKS URL, made on first use and kept. */
  remote(url: string): KeyResolver {
    let resolver = this.#remote.get(url);
    if (!resolver) {
      resolver = createRemoteJWKSet(new URL(url), {
        cacheMaxAge: this.#options.cacheMaxAgeMs,
        cooldownDuration: this.#options.cooldownMs,
        timeoutDuration: this.#options.timeoutMs,
        [customFetch]: (resource, init) => this.#fetch(resource, init),
      });
      this.#remote.set(url, resolver);
    }
    return resolver;
  }

  /** The resolver for an inline key set; throws a TypeError naming the problem if it is not one. */
  inline(jwks: string): KeyResolver {
    let resolver = this.#inline.get(jwks);
    if (!resolver) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(jwks);
      } catch {
        throw new TypeError('the inline JWKS is not JSON');
      }
      resolver = createLocalJWKSet(asymmetricKeySet(parsed));
      this.#inline.set(jwks, resolver);
    }
    return resolver;
  }

  /** Forgets resolvers no issuer in `inUse` names, so removed issuers do not pile up. */
  retain(inUse: { urls: Iterable<string>; inline: Iterable<string> }): void {
    const urls = new Set(inUse.urls);
    const inline = new Set(inUse.inline);
    for (const url of this.#remote.keys()) if (!urls.has(url)) this.#remote.delete(url);
    for (const jwks of this.#inline.keys()) if (!inline.has(jwks)) this.#inline.delete(jwks);
  }

  /** A bounded fetch whose answer is reduced to its asymmetric keys before jose sees it. */
  async #fetch(
    resource: string,
    init: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal },
  ): Promise<Response> {
    try {
      const res = await this.#options.fetch(resource, init);
      if (res.status !== 200) {
        await res.body?.cancel();
        this.#options.onFetch?.(resource, 'error');
        return res;
      }
      const text = await readLimited(res, MAX_JWKS_BYTES);
      const body = JSON.stringify(asymmetricKeySet(JSON.parse(text)));
      this.#options.onFetch?.(resource, 'ok');
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      this.#options.onFetch?.(resource, 'error');
      throw err;
    }
  }
}

/** The body as text, or an error once it grows past `limit` bytes. */
async function readLimited(res: Response, limit: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new TypeError(`the JWKS is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
