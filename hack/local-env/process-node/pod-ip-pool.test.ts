import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PodIpPool } from './pod-ip-pool.ts';

describe('the pod IP pool', () => {
  it('hands out loopback addresses in turn, skipping the network address', async () => {
    const pool = new PodIpPool('127.42.0.0/16');
    assert.equal(await pool.allocate('a'), '127.42.0.1');
    assert.equal(await pool.allocate('b'), '127.42.0.2');
    assert.equal(await pool.allocate('a'), '127.42.0.1', 'a pod keeps its address');
  });

  it('does not give a released address to the very next pod', async () => {
    const pool = new PodIpPool('127.42.0.0/16');
    await pool.allocate('a');
    pool.release('a');
    assert.equal(await pool.allocate('b'), '127.42.0.2');
  });

  it('wraps around and never hands out the broadcast address', async () => {
    const pool = new PodIpPool('127.42.0.0/30');
    assert.equal(await pool.allocate('a'), '127.42.0.1');
    assert.equal(await pool.allocate('b'), '127.42.0.2');
    await assert.rejects(pool.allocate('c'), /no free pod IP left in 127\.42\.0\.0\/30/);
    pool.release('a');
    assert.equal(await pool.allocate('c'), '127.42.0.1');
  });

  it('skips addresses the caller finds unusable', async () => {
    const pool = new PodIpPool('127.42.0.0/16');
    assert.equal(await pool.allocate('a', (ip) => ip !== '127.42.0.1'), '127.42.0.2');
  });

  it('gives two pods allocating at once different addresses', async () => {
    const pool = new PodIpPool('127.42.0.0/16');
    const slow = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return true;
    };
    const [a, b] = await Promise.all([pool.allocate('a', slow), pool.allocate('b', slow)]);
    assert.notEqual(a, b);
  });

  it('lets a pod keep the address it had before a restart, unless another pod holds it', async () => {
    const pool = new PodIpPool('127.42.0.0/16');
    assert.equal(pool.reserve('a', '127.42.3.4'), true);
    assert.equal(pool.reserve('b', '127.42.3.4'), false);
    assert.equal(pool.reserve('c', '10.0.0.1'), false, 'outside the pool');
    assert.equal(pool.get('a'), '127.42.3.4');
  });

  it('refuses CIDRs outside loopback or not on a network boundary', () => {
    assert.throws(() => new PodIpPool('10.0.0.0/16'), /not inside 127\.0\.0\.0\/8/);
    assert.throws(() => new PodIpPool('127.42.0.1/16'), /not the network address \(127\.42\.0\.0\)/);
    assert.throws(() => new PodIpPool('127.42.0.0'), /must look like/);
  });
});
