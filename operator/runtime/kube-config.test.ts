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
