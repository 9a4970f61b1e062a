/**
 * A token issuer for e2e tests: key pairs, a JWKS served over HTTP on 127.0.0.1 (so the
 * gateway fetches and rotates keys as it would from an identity provider), and JWTs signed
 * with them. Forged tokens are made here too: `alg: none`, another key under a known kid,
 * expired ones.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

/** One issuer with a served key set. */
export class TokenIssuer {
  readonly issuer: string;
  readonly audience = 'weir-e2e';
  #keys: Key[] = [];
  #server: Server;
  fetches = 0;
  jwksUrl = '';

  private constructor(issuer: string) {
    this.issuer = issuer;
    this.#server = createServer((_req, res) => {
      this.fetches++;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: this.#keys.map((k) => k.jwk) }));
    });
  }

  /** Starts serving the key set with one key. */
  static async start(issuer: string): Promise<TokenIssuer> {
    const t = new TokenIssuer(issuer);
    await t.rotate();
    await new Promise<void>((resolve) => t.#server.listen(0, '127.0.0.1', resolve));
    t.jwksUrl = `http://127.0.0.1:${(t.#server.address() as AddressInfo).port}/jwks`;
    return t;
  }

  /** Adds a new signing key; tokens are signed with the newest. */
  async rotate(): Promise<string> {
    const kid = `k${this.#keys.length + 1}-${Date.now().toString(36)}`;
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    this.#keys.push({ kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } });
    return kid;
  }

  /** The Tenant spec's issuer entry. */
  issuerSpec(): { issuer: string; audiences: string[]; jwksUrl: string } {
    return { issuer: this.issuer, audiences: [this.audience], jwksUrl: this.jwksUrl };
  }

  /** A token for `tenant`, valid for `seconds` (negative: expired that long ago). */
  async token(tenant: string, claims: Record<string, unknown> = {}, seconds = 3600): Promise<string> {
    const key = this.#keys.at(-1)!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tenant, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + seconds)
      .sign(key.privateKey);
  }

  /** A token with every claim right and no signature (`alg: none`). */
  unsigned(tenant: string): string {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const exp = Math.floor(Date.now() / 1000) + 3600;
    return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: this.issuer, aud: this.audience, tenant, exp })}.`;
  }

  /** A token signed by a key the issuer does not have, under the kid of one it does. */
  async forged(tenant: string): Promise<string> {
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tenant })
      .setProtectedHeader({ alg: 'ES256', kid: this.#keys.at(-1)!.kid })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
