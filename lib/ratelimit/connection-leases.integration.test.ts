/**
 * Connection caps across gateways against a real redis-server: run under
 * `node hack/local-env/cli.ts run --with redis -- node --test <this file>`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { systemClock } from '../clock/clock.ts';
import { silentLogger } from '../observability/logger.ts';
import { connectRedis } from '../redis/redis-connection.ts';
import { ConnectionLeases, type LeaseSet } from './connection-leases.ts';

const url = process.env.WEIR_REDIS_URL ?? '';
const run = randomBytes(3).toString('hex');
const log = silentLogger();
// Without its real server this file fails rather than skips: a skip would read as a pass.
assert.ok(url, 'WEIR_REDIS_URL is not set: run under hack/local-env/cli.ts run --with redis');

describe('connection leases shared by gateways', () => {
  const connections: Redis[] = [];
  const gateways: ConnectionLeases[] = [];

  function gateway(ttlMs: number, renewMs?: number): ConnectionLeases {
    const redis = connectRedis({ url, connectionName: 'weir-leases-test', log, commandTimeoutMs: 1_000 });
    connections.push(redis);
    const leases = new ConnectionLeases({ redis, clock: systemClock, log, ttlMs, renewMs });
    gateways.push(leases);
    return leases;
  }
  const tenantSet = (name: string, cap: number): LeaseSet => ({
    id: 'tenant:connections',
    key: `weir:conn:{it-${run}-${name}}:tenant`,
    cap,
  });

  after(() => {
    for (const g of gateways) g.stop();
    for (const c of connections) c.disconnect();
  });

  it("caps a tenant's streams across two gateways and frees a place when one closes", async () => {
    const a = gateway(30_000);
    const b = gateway(30_000);
    const set = tenantSet('cap', 3);
    assert.deepEqual(await a.acquire([set], 'a:1'), { acquired: true });
    assert.deepEqual(await a.acquire([set], 'a:2'), { acquired: true });
    assert.deepEqual(await b.acquire([set], 'b:1'), { acquired: true });
    assert.deepEqual(await b.acquire([set], 'b:2'), { acquired: false, full: set, held: 3 });
    await a.release([set], 'a:1');
    assert.deepEqual(await b.acquire([set], 'b:2'), { acquired: true });
    assert.equal(a.held + b.held, 3);
  });

  it('takes a place in no set when any one of them is full', async () => {
    const a = gateway(30_000);
    const roomy = tenantSet('roomy', 10);
    const tight = { ...tenantSet('tight', 1), id: 'p:connections' };
    assert.equal((await a.acquire([roomy, tight], 'x')).acquired, true);
    assert.deepEqual(await a.acquire([roomy, tight], 'y'), { acquired: false, full: tight, held: 1 });
    const other = gateway(30_000);
    // 'y' took nothing in the roomy set: nine places are left there.
    for (let i = 0; i < 9; i++) assert.equal((await other.acquire([roomy], `o:${i}`)).acquired, true);
    assert.equal((await other.acquire([roomy], 'o:9')).acquired, false);
  });

  it("frees a crashed gateway's places once its leases expire, while a live gateway's renewals keep its own", async () => {
    const crashed = gateway(800, 200);
    const alive = gateway(800, 200);
    const set = tenantSet('crash', 2);
    assert.equal((await crashed.acquire([set], 'crashed:1')).acquired, true);
    assert.equal((await alive.acquire([set], 'alive:1')).acquired, true);
    // The first gateway dies: it renews nothing more and releases nothing.
    crashed.stop();
    assert.equal((await alive.acquire([set], 'alive:2')).acquired, false);
    await sleep(1_500);
    assert.equal((await alive.acquire([set], 'alive:2')).acquired, true);
    // alive:1 outlived its lease time thanks to renewals.
    assert.equal((await gateway(800).acquire([set], 'late')).acquired, false);
  });

  it('reports the store as unavailable instead of guessing', async () => {
    const redis = connectRedis({
      url: 'redis://127.0.0.1:1',
      connectionName: 'weir-leases-test',
      log,
      offlineQueue: false,
      maxRetriesPerRequest: 0,
    });
    connections.push(redis);
    const leases = new ConnectionLeases({ redis, clock: systemClock, log });
    assert.deepEqual(await leases.acquire([tenantSet('down', 5)], 'x'), { acquired: false, unavailable: true });
  });
});
