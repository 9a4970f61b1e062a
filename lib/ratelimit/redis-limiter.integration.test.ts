/**
 * The limiter script against a real redis-server: run under
 * `node hack/local-env/cli.ts run --with redis -- node --test <this file>`.
 * Two limiter instances on two connections stand for two gateways. Time is Redis's own
 * (TIME), read through the test's own connection when a bound depends on it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { startComponent, stopComponent } from '../../hack/local-env/control-client.ts';
import { FakeClock, systemClock } from '../clock/clock.ts';
import { silentLogger } from '../observability/logger.ts';
import { connectRedis } from '../redis/redis-connection.ts';
import type { LimitCheck } from './limit-plan.ts';
import { RedisLimiter } from './redis-limiter.ts';

const url = process.env.WEIR_REDIS_URL ?? '';
const run = randomBytes(3).toString('hex');
const log = silentLogger();
// Without its real server this file fails rather than skips: a skip would read as a pass.
assert.ok(url, 'WEIR_REDIS_URL is not set: run under hack/local-env/cli.ts run --with redis');

/** A gateway's connection; the limit tests give it time enough never to fail open on a busy machine. */
function connect(target = url, commandTimeoutMs = 200): Redis {
  return connectRedis({
    url: target,
    connectionName: 'weir-limiter-test',
    log,
    commandTimeoutMs,
    offlineQueue: false,
    maxRetriesPerRequest: 0,
    autoPipelining: true,
  });
}

let n = 0;
function check(fields: Partial<LimitCheck> = {}): LimitCheck {
  return {
    id: `c${n}`,
    key: `weir:rl:{it-${run}}:${fields.algorithm === 'SlidingWindow' ? 'sw' : 'tb'}:${n++}`,
    algorithm: 'TokenBucket',
    rate: 10,
    periodMs: 3_600_000,
    burst: 10,
    cost: 1,
    shadow: false,
    failClosed: false,
    ...fields,
  };
}

/** A TCP proxy to Redis that can stop forwarding, as a Redis that hangs would look to its clients. */
async function freezableProxy(target: URL): Promise<{ url: string; freeze(): void; close(): void }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connectTcp(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => void (frozen || upstream.write(chunk)));
    upstream.on('data', (chunk) => void (frozen || client.write(chunk)));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const proxied = new URL(target);
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    freeze: () => void (frozen = true),
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function serverMs(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Number(us) / 1000;
}

describe('the rate limiter in Redis', () => {
  let a: Redis;
  let b: Redis;
  let gatewayA: RedisLimiter;
  let gatewayB: RedisLimiter;

  before(async () => {
    a = connect(url, 5_000);
    b = connect(url, 5_000);
    await Promise.all([a.connect(), b.connect()]);
    gatewayA = new RedisLimiter({ redis: a, clock: systemClock, log });
    gatewayB = new RedisLimiter({ redis: b, clock: systemClock, log });
  });
  after(() => {
    a.disconnect();
    b.disconnect();
  });

  it('admits a full burst at once, refuses the next request, and says when one unit comes back', async () => {
    const limit = check({ rate: 10, burst: 5 });
    for (let i = 0; i < 5; i++) {
      const d = await gatewayA.decide([limit]);
      assert.equal(d.allowed, true);
      assert.equal(d.results[0]!.remaining, 4 - i);
    }
    const refused = await gatewayB.decide([limit]);
    assert.equal(refused.allowed, false);
    assert.equal(refused.deniedBy[0]!.check.id, limit.id);
    // One unit of 10 per hour returns after 6 minutes; the test took a few milliseconds of it.
    assert.ok(Math.abs(refused.retryAfterMs - 360_000) < 5_000, `retry after ${refused.retryAfterMs} ms`);
  });

  it('charges nothing when one limit refuses, so a refused request costs no other limit', async () => {
    const roomy = check({ rate: 100, burst: 100 });
    const full = check({ rate: 1, burst: 1 });
    assert.equal((await gatewayA.decide([roomy, full])).allowed, true);
    for (let i = 0; i < 5; i++) assert.equal((await gatewayA.decide([roomy, full])).allowed, false);
    const after = await gatewayA.decide([roomy]);
    assert.equal(after.results[0]!.remaining, 98);
  });

  it('counts a shadow limit and reports what it would refuse, but never refuses for it', async () => {
    const shadow = check({ rate: 1, burst: 2, shadow: true });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await gatewayA.decide([shadow]));
    assert.ok(results.every((d) => d.allowed));
    assert.deepEqual(
      results.map((d) => d.shadowDenied.length),
      [0, 0, 1, 1],
    );
  });

  it('refuses for good a request that costs more than the burst', async () => {
    const d = await gatewayA.decide([check({ rate: 100, burst: 50, cost: 51 })]);
    assert.equal(d.allowed, false);
    assert.equal(d.retryAfterMs, -1);
  });

  it('keeps two gateways sharing a token bucket within 2% of its rate', async () => {
    const rate = 400;
    const burst = 20;
    const limit = check({ rate, burst, periodMs: 1000 });
    let admitted = 0;
    const start = await serverMs(a);
    const until = Date.now() + 3_000;
    const sources = new Set<string>();
    const hammer = async (limiter: RedisLimiter) => {
      while (Date.now() < until) {
        const decision = await limiter.decide([limit]);
        sources.add(decision.source);
        if (decision.allowed) admitted++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => hammer(i % 2 ? gatewayA : gatewayB)));
    const elapsedS = ((await serverMs(a)) - start) / 1000;
    const ceiling = burst + rate * elapsedS;
    assert.ok(
      admitted <= ceiling * 1.02,
      `admitted ${admitted} in ${elapsedS.toFixed(2)} s, ceiling ${ceiling.toFixed(0)}`,
    );
    // Far fewer would mean the gateways got in each other's way; a busy machine may pause them briefly.
    assert.ok(admitted >= rate * elapsedS * 0.9, `admitted ${admitted} in ${elapsedS.toFixed(2)} s at ${rate}/s`);
  });

  it('keeps a sliding window strict across window boundaries, where a fixed window would admit twice the rate', async () => {
    const limit = check({ algorithm: 'SlidingWindow', rate: 10, periodMs: 1000 });
    for (let i = 0; i < 10; i++) assert.equal((await gatewayA.decide([limit])).allowed, true);
    const first = await gatewayB.decide([limit]);
    assert.equal(first.allowed, false);
    // Less than a period later (any fixed one-second window would have turned over by now
    // for some starting point), still refused.
    await sleep(400);
    assert.equal((await gatewayB.decide([limit])).allowed, false);
    // Once the period and one slot have passed, the whole window is free again.
    await sleep(Math.max(0, first.retryAfterMs - 400) + 120);
    for (let i = 0; i < 10; i++) assert.equal((await gatewayA.decide([limit])).allowed, true, `request ${i}`);
    assert.equal((await gatewayA.decide([limit])).allowed, false);
  });

  it('never lets two gateways admit more than the rate per period through a sliding window', async () => {
    const rate = 200;
    const limit = check({ algorithm: 'SlidingWindow', rate, periodMs: 1000 });
    let admitted = 0;
    const start = await serverMs(a);
    const until = Date.now() + 2_500;
    const sources = new Set<string>();
    const hammer = async (limiter: RedisLimiter) => {
      while (Date.now() < until) {
        const decision = await limiter.decide([limit]);
        sources.add(decision.source);
        if (decision.allowed) admitted++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => hammer(i % 2 ? gatewayA : gatewayB)));
    const elapsedS = ((await serverMs(a)) - start) / 1000;
    assert.deepEqual([...sources], ['store'], "every decision was Redis's");
    // Every window of one period admits at most the rate, so n periods (begun) admit at most n times it.
    assert.ok(admitted <= rate * Math.ceil(elapsedS), `admitted ${admitted} in ${elapsedS.toFixed(2)} s`);
    assert.ok(admitted >= rate * Math.floor(elapsedS) * 0.9, `only ${admitted} admitted in ${elapsedS.toFixed(2)} s`);
  });

  it('decides on the server clock, whatever clock the gateway has', async () => {
    const skewed = new RedisLimiter({ redis: a, clock: new FakeClock({ now: 0 }), log });
    const limit = check({ rate: 1, burst: 1 });
    assert.equal((await skewed.decide([limit])).allowed, true);
    assert.equal((await gatewayB.decide([limit])).allowed, false);
  });
});

describe('the rate limiter without Redis', () => {
  it('answers in the failure mode after the command timeout when Redis stops answering, then at once with its breaker open', async () => {
    const proxy = await freezableProxy(new URL(url));
    const redis = connect(proxy.url);
    await redis.connect();
    const limiter = new RedisLimiter({ redis, clock: systemClock, log });
    try {
      const open = check();
      const closed = check({ failClosed: true });
      assert.equal((await limiter.decide([open])).source, 'store');
      proxy.freeze();
      for (let i = 0; i < 3; i++) assert.equal((await limiter.decide([open])).source, 'failOpen');
      assert.equal(limiter.storeAvailable, false);
      const refused = await limiter.decide([open, closed]);
      assert.deepEqual([refused.allowed, refused.source], [false, 'failClosed']);
      // A shadow limit that fails closed does not refuse.
      assert.equal((await limiter.decide([{ ...closed, shadow: true }])).allowed, true);
    } finally {
      redis.disconnect();
      proxy.close();
    }
  });

  it('follows each failure mode while Redis is stopped, and decides in Redis again once it is back', async () => {
    const redis = connect();
    await redis.connect();
    const limiter = new RedisLimiter({ redis, clock: systemClock, log, breaker: { openMs: 200 } });
    const open = check();
    const closed = check({ failClosed: true });
    assert.equal((await limiter.decide([open, closed])).source, 'store');
    await stopComponent('redis');
    try {
      for (let i = 0; i < 5; i++) {
        const admitted = await limiter.decide([open]);
        assert.deepEqual([admitted.allowed, admitted.source], [true, 'failOpen']);
        const refused = await limiter.decide([open, closed]);
        assert.deepEqual([refused.allowed, refused.source], [false, 'failClosed']);
        assert.ok(refused.retryAfterMs > 0);
      }
    } finally {
      await startComponent('redis');
    }
    const deadline = Date.now() + 20_000;
    let last = await limiter.decide([open]);
    while (last.source !== 'store' && Date.now() < deadline) {
      await sleep(100);
      last = await limiter.decide([open]);
    }
    assert.equal(last.source, 'store');
    redis.disconnect();
  });
});
