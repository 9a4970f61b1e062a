import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createHmac } from 'node:crypto';
import { FakeClock } from '../clock/clock.ts';
import { Errors } from '../errors/errors.ts';
import { IssuerKeys } from './issuer-keys.ts';
import { TenantTokenVerifier, type IssuerConfig } from './token-verifier.ts';

const ISSUER = 'https://id.example.com/';
const NOW = Date.parse('2030-01-01T00:00:00Z');

interface KeyPair {
  privateKey: CryptoKey;
  publicJwk: JWK;
  spki: string;
}

async function keyPair(alg: 'RS256' | 'ES256', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
    spki: await exportSPKI(publicKey),
  };
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

interface TokenSpec {
  key: KeyPair;
  alg?: 'RS256' | 'ES256';
  claims?: Record<string, unknown>;
  iss?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
}

async function token(spec: TokenSpec): Promise<string> {
  const alg = spec.alg ?? (spec.key.publicJwk.alg as 'RS256' | 'ES256');
  const jwt = new SignJWT({ tenant: 'acme', ...spec.claims })
    .setProtectedHeader({ alg, kid: spec.key.publicJwk.kid })
    .setIssuer(spec.iss ?? ISSUER)
    .setAudience(spec.aud ?? 'weir')
    .setIssuedAt(Math.floor(NOW / 1000))
    .setExpirationTime(spec.exp ?? Math.floor(NOW / 1000) + 600);
  if (spec.nbf !== undefined) jwt.setNotBefore(spec.nbf);
  return jwt.sign(spec.key.privateKey);
}

function issuer(jwks: { keys: JWK[] }, changes: Partial<IssuerConfig> = {}): IssuerConfig {
  return { issuer: ISSUER, audiences: ['weir'], jwks: JSON.stringify(jwks), tenantClaim: 'tenant', ...changes };
}

describe('the tenant token verifier', () => {
  let rsa: KeyPair;
  let ec: KeyPair;
  let stranger: KeyPair;
  const clock = new FakeClock({ now: NOW });

  before(async () => {
    rsa = await keyPair('RS256', 'rsa-1');
    ec = await keyPair('ES256', 'ec-1');
    // Another key that claims the same kid as the tenant's RSA key.
    stranger = await keyPair('RS256', 'rsa-1');
  });

  function verifier(issuers: IssuerConfig[], tenant = 'acme') {
    return new TenantTokenVerifier({ tenant, issuers, keys: new IssuerKeys(), clock });
  }

  it('accepts a token signed with an RSA or an EC key of the inline key set, with its claims', async () => {
    const v = verifier([issuer({ keys: [rsa.publicJwk, ec.publicJwk] })]);
    for (const key of [rsa, ec]) {
      const verified = await v.verify(await token({ key, claims: { sub: 'device-7', plan: 'gold' } }));
      assert.equal(verified.tenant, 'acme');
      assert.equal(verified.subject, 'device-7');
      assert.equal(verified.claims.plan, 'gold');
      assert.equal(verified.expiresAt, NOW + 600_000);
    }
  });

  const refusals: [string, (keys: { rsa: KeyPair; stranger: KeyPair }) => Promise<string>, RegExp, string?][] = [
    ['refuses an expired token', ({ rsa }) => token({ key: rsa, exp: NOW / 1000 - 120 }), /expired/],
    [
      'refuses a token that is not valid yet',
      ({ rsa }) => token({ key: rsa, nbf: NOW / 1000 + 3600 }),
      /not valid yet/,
    ],
    ['refuses a token for another audience', ({ rsa }) => token({ key: rsa, aud: 'billing' }), /audience/],
    [
      'refuses a token of an issuer the tenant does not trust',
      ({ rsa }) => token({ key: rsa, iss: 'https://evil.example.com/' }),
      /issuer "https:\/\/evil.example.com\/" are not accepted/,
    ],
    [
      'refuses a token signed by another key under the same kid',
      ({ stranger }) => token({ key: stranger }),
      /signature is not valid/,
    ],
    [
      'refuses a token without the tenant claim',
      ({ rsa }) => token({ key: rsa, claims: { tenant: undefined } }),
      /no "tenant" claim/,
    ],
    [
      'refuses alg none even with every claim right',
      async () =>
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISSUER, aud: 'weir', tenant: 'acme', exp: NOW / 1000 + 600 })}.`,
      /algorithm "none" is not accepted/,
    ],
    [
      "refuses an HS256 token whose secret is the issuer's public key (algorithm confusion)",
      async ({ rsa }) => {
        const head = `${b64({ alg: 'HS256', kid: 'rsa-1' })}.${b64({ iss: ISSUER, aud: 'weir', tenant: 'acme', exp: NOW / 1000 + 600 })}`;
        return `${head}.${createHmac('sha256', rsa.spki).update(head).digest('base64url')}`;
      },
      /algorithm "HS256" is not accepted/,
    ],
    ['refuses something that is not a JWT', async () => 'not-a-token', /not a JWT/],
    [
      'refuses a token whose payload was changed after signing',
      async ({ rsa }) => {
        const [head, , signature] = (await token({ key: rsa })).split('.');
        return `${head}.${b64({ iss: ISSUER, aud: 'weir', tenant: 'acme', exp: NOW / 1000 + 99_999 })}.${signature}`;
      },
      /signature is not valid/,
    ],
  ];
  for (const [name, make, message] of refusals) {
    it(name, async () => {
      const v = verifier([issuer({ keys: [rsa.publicJwk] })]);
      await assert.rejects(v.verify(await make({ rsa, stranger })), { code: Errors.InvalidToken.code, message });
    });
  }

  it("forbids another tenant's token from an issuer both tenants trust", async () => {
    const v = verifier([issuer({ keys: [rsa.publicJwk] })], 'globex');
    await assert.rejects(v.verify(await token({ key: rsa })), {
      code: Errors.Forbidden.code,
      message: /for tenant "acme"/,
    });
  });

  it('reads the tenant from the claim the issuer names', async () => {
    const v = verifier([issuer({ keys: [rsa.publicJwk] }, { tenantClaim: 'https://weir.dev/tenant' })]);
    await assert.rejects(v.verify(await token({ key: rsa })), { code: Errors.InvalidToken.code });
    const verified = await v.verify(await token({ key: rsa, claims: { 'https://weir.dev/tenant': 'acme' } }));
    assert.equal(verified.tenant, 'acme');
  });

  it('ignores symmetric keys in a key set, so an oct key cannot verify anything', async () => {
    const secret = Buffer.from('a shared secret of thirty-two by').toString('base64url');
    const v = verifier([issuer({ keys: [{ kty: 'oct', k: secret, kid: 'h', alg: 'HS256' }] })]);
    const head = `${b64({ alg: 'HS256', kid: 'h' })}.${b64({ iss: ISSUER, aud: 'weir', tenant: 'acme', exp: NOW / 1000 + 600 })}`;
    const forged = `${head}.${createHmac('sha256', Buffer.from(secret, 'base64url')).update(head).digest('base64url')}`;
    await assert.rejects(v.verify(forged), { code: Errors.InvalidToken.code, message: /HS256/ });
  });

  it('says what is wrong with an inline key set that is not JSON, and accepts nothing from it', async () => {
    const v = verifier([{ issuer: ISSUER, audiences: ['weir'], jwks: '{not json', tenantClaim: 'tenant' }]);
    await assert.rejects(v.verify(await token({ key: rsa })), {
      code: Errors.InvalidToken.code,
      message: /inline JWKS is not JSON/,
    });
  });

  it('remembers a verified token until it expires, and refuses it after', async () => {
    const local = new FakeClock({ now: NOW });
    const v = new TenantTokenVerifier({
      tenant: 'acme',
      issuers: [issuer({ keys: [rsa.publicJwk] })],
      keys: new IssuerKeys(),
      clock: local,
      clockToleranceMs: 0,
    });
    const jwt = await token({ key: rsa, exp: NOW / 1000 + 60 });
    const first = await v.verify(jwt);
    assert.equal(await v.verify(jwt), first);
    await local.advance(61_000);
    await assert.rejects(v.verify(jwt), { code: Errors.InvalidToken.code, message: /expired/ });
  });
});

describe('issuer keys fetched from a JWKS URL', () => {
  let server: Server;
  let url: string;
  let served: { keys: JWK[] } = { keys: [] };
  let status = 200;
  let fetches = 0;
  let first: KeyPair;
  let second: KeyPair;
  const clock = new FakeClock({ now: NOW });

  before(async () => {
    first = await keyPair('RS256', 'k1');
    second = await keyPair('ES256', 'k2');
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function verifier(keys: IssuerKeys) {
    return new TenantTokenVerifier({
      tenant: 'acme',
      issuers: [{ issuer: ISSUER, audiences: ['weir'], jwksUrl: url, tenantClaim: 'tenant' }],
      keys,
      clock,
    });
  }

  it('fetches the key set once for many tokens, picks up a rotated key, and refetches at most once per cooldown', async () => {
    served = { keys: [first.publicJwk] };
    fetches = 0;
    const outcomes: string[] = [];
    const cooldownMs = 1_500;
    const keys = new IssuerKeys({ cooldownMs, onFetch: (_u, outcome) => outcomes.push(outcome) });
    const v = verifier(keys);
    const forged = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => token({ key: await keyPair('ES256', `unknown-${i}`) })),
    );
    const rotated = await token({ key: second });
    for (let i = 0; i < 5; i++) await v.verify(await token({ key: first, claims: { n: i } }));
    assert.equal(fetches, 1);

    // Tokens under unknown kids within the cooldown cause no fetch, however many come.
    for (const jwt of forged) await assert.rejects(v.verify(jwt), { code: Errors.InvalidToken.code });
    assert.equal(fetches, 1);

    // The issuer rotates; once the cooldown has passed, a token under the new kid fetches the new set.
    served = { keys: [first.publicJwk, second.publicJwk] };
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 100));
    assert.equal((await v.verify(rotated)).tenant, 'acme');
    assert.equal(fetches, 2);
    for (const jwt of forged) await assert.rejects(v.verify(jwt), { code: Errors.InvalidToken.code });
    assert.equal(fetches, 2);
    assert.deepEqual(outcomes, ['ok', 'ok']);
  });

  it('answers IssuerUnavailable while the issuer fails, and recovers when it answers again', async () => {
    served = { keys: [first.publicJwk] };
    status = 500;
    const keys = new IssuerKeys({ cooldownMs: 0 });
    const v = verifier(keys);
    const jwt = await token({ key: first, claims: { attempt: 1 } });
    await assert.rejects(v.verify(jwt), { code: Errors.IssuerUnavailable.code });
    status = 200;
    assert.equal((await v.verify(jwt)).tenant, 'acme');
  });

  it('drops symmetric keys an issuer serves', async () => {
    served = { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k1', alg: 'HS256' }] };
    status = 200;
    const v = verifier(new IssuerKeys({ cooldownMs: 0 }));
    await assert.rejects(v.verify(await token({ key: first })), {
      code: Errors.InvalidToken.code,
      message: /no key matching/,
    });
  });
});
