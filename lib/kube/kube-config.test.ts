import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { reuseConnections } from './kube-config.ts';

type Factory = (cluster: unknown, options: { ca?: Buffer }) => unknown;

describe('reuseConnections', () => {
  it('hands every request to one cluster the same connection pool', () => {
    const kc = new KubeConfig();
    let built = 0;
    (kc as unknown as { createDispatcher: Factory }).createDispatcher = () => ({ pool: ++built });
    reuseConnections(kc);
    const create = (kc as unknown as { createDispatcher: Factory }).createDispatcher;
    const cluster = { server: 'https://127.0.0.1:6443' };
    assert.equal(create(cluster, { ca: Buffer.from('ca') }), create(cluster, { ca: Buffer.from('ca') }));
    assert.equal(built, 1);
  });

  it('keeps pools apart for different clusters or client certificates', () => {
    const kc = new KubeConfig();
    (kc as unknown as { createDispatcher: Factory }).createDispatcher = () => ({});
    reuseConnections(kc);
    const create = (kc as unknown as { createDispatcher: Factory }).createDispatcher;
    const a = create({ server: 'https://a' }, { ca: Buffer.from('x') });
    assert.notEqual(a, create({ server: 'https://b' }, { ca: Buffer.from('x') }));
    assert.notEqual(a, create({ server: 'https://a' }, { ca: Buffer.from('y') }));
  });
});

describe('reuseConnections across identities', () => {
  it('builds a new pool when the client certificate changes, and keeps a few', () => {
    const kc = new KubeConfig();
    let built = 0;
    (kc as unknown as { createDispatcher: (c: unknown, o: { cert?: Buffer }) => unknown }).createDispatcher = () => ({
      pool: ++built,
    });
    reuseConnections(kc);
    const create = (kc as unknown as { createDispatcher: (c: unknown, o: { cert?: Buffer }) => unknown })
      .createDispatcher;
    const cluster = { server: 'https://a' };
    const first = create(cluster, { cert: Buffer.from('one') });
    assert.notEqual(first, create(cluster, { cert: Buffer.from('two') }));
    assert.equal(first, create(cluster, { cert: Buffer.from('one') }));
    assert.equal(built, 2);
    for (const c of ['3', '4', '5', '6']) create(cluster, { cert: Buffer.from(c) });
    assert.notEqual(first, create(cluster, { cert: Buffer.from('one') }), 'the oldest pool was let go');
    assert.equal(create(null, {}), create(null, {}));
  });
});
