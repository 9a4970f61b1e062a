import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { FakeClock } from '../clock/clock.ts';
import { Errors, hasCode } from '../errors/errors.ts';
import { IssuerKeys } from './issuer-keys.ts';
import { TenantVerifiers } from './tenant-verifiers.ts';
import type { IssuerConfig } from './token-verifier.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const SHARED = 'https://id.shared.example/';

let key: CryptoKey;
let jwks: string;

before(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
});

const issuer = (changes: Partial<IssuerConfig> = {}): IssuerConfig => ({
  issuer: SHARED,
  audiences: ['weir'],
  jwks,
  tenantClaim: 'tenant',
  ...changes,
});

const sign = (claims: Record<string, unknown>, iss = SHARED) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(iss)
    .setAudience('weir')
    .setExpirationTime(Math.floor(NOW / 1000) + 600)
    .sign(key);

function verifiers() {
  const v = new TenantVerifiers({ keys: new IssuerKeys(), clock: new FakeClock({ now: NOW }) });
  v.update([
    { name: 'acme', issuers: [issuer()] },
    { name: 'globex', issuers: [issuer({ tenantClaim: 'org' })] },
    { name: 'initech', issuers: [issuer({ issuer: 'https://id.initech.example/' })] },
  ]);
  return v;
}

describe('finding the tenant of a token', () => {
  it('is the tenant its claim names, among those trusting its issuer', async () => {
    const v = verifiers();
    assert.equal((await v.authenticate({ token: await sign({ tenant: 'acme' }) })).tenant, 'acme');
    assert.equal((await v.authenticate({ token: await sign({ org: 'globex' }) })).tenant, 'globex');
  });

  it('is no one when the named tenant does not trust the issuer', async () => {
    const v = verifiers();
    await assert.rejects(v.authenticate({ token: await sign({ tenant: 'initech' }) }), (err) =>
      hasCode(err, Errors.InvalidToken),
    );
  });

  it('is no one when the tenant claim names no tenant, or the tenant is gone', async () => {
    const v = verifiers();
    await assert.rejects(v.authenticate({ token: await sign({ tenant: 'nobody' }) }), (err) =>
      hasCode(err, Errors.InvalidToken),
    );
    const token = await sign({ tenant: 'acme' });
    v.update([{ name: 'globex', issuers: [issuer({ tenantClaim: 'org' })] }]);
    await assert.rejects(v.authenticate({ token }), (err) => hasCode(err, Errors.InvalidToken));
  });

  it('asks for a token when there is none and refuses what is not a JWT', async () => {
    const v = verifiers();
    await assert.rejects(v.authenticate({ missing: true }), (err) => hasCode(err, Errors.Unauthenticated));
    await assert.rejects(v.authenticate({ token: 'abc.def' }), (err) => hasCode(err, Errors.InvalidToken));
  });

  it('keeps a verifier whose issuers did not change, and replaces one whose did', () => {
    const v = verifiers();
    const acme = v.verifier('acme');
    v.update([{ name: 'acme', issuers: [issuer()] }]);
    assert.equal(v.verifier('acme'), acme);
    v.update([{ name: 'acme', issuers: [issuer({ audiences: ['other'] })] }]);
    assert.notEqual(v.verifier('acme'), acme);
    assert.equal(v.verifier('globex'), undefined);
  });
});
