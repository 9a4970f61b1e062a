/**
 * What the processor does with events it cannot use, against real Kafka and Postgres:
 * malformed and too-late events go to the dead-letter topic at once with headers that say
 * why; an event whose lookup keeps failing goes through the retry topic with backoff,
 * without holding up the events behind it, and to the dead-letter topic after its retries;
 * once the cause is fixed, the re-drive command brings it back and it is counted.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { KafkaMessage } from 'kafkajs';
import { freePort } from '../../hack/local-env/ports.ts';
import { currentResultKey } from '../../lib/platform/results.ts';
import {
  checkClient,
  createPipeline,
  createTenant,
  envOf,
  produce,
  ProcessorProcess,
  readCommitted,
  type TestTenant,
} from './testing/processor-process.ts';

const kafka = checkClient();
const run = randomUUID().slice(0, 6);
let tenant: TestTenant;
let redis: Redis;
const processors: ProcessorProcess[] = [];
const root = join(import.meta.dirname, '..', '..');

const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

before(async () => {
  tenant = await createTenant(`fail-${run}`);
  redis = new Redis(envOf('WEIR_REDIS_URL'));
});

after(async () => {
  await Promise.all(processors.map((p) => p.kill()));
  await redis.quit();
});

async function start(pipeline: Awaited<ReturnType<typeof createPipeline>>) {
  const p = new ProcessorProcess(pipeline, tenant, await freePort());
  processors.push(p);
  await p.ready();
  return p;
}

describe('dead letters', () => {
  it('go to the dead-letter topic at once when malformed or too late, with headers that say why, and the rest is counted', async () => {
    const pipeline = await createPipeline(tenant, 'malformed', {
      source: { partitions: 1 },
      aggregate: [
        {
          name: 'per_minute',
          window: { type: 'Tumbling', size: '1m' },
          eventTime: { field: '/ts', maxOutOfOrderness: '1s', idleTimeout: '1h' },
          allowedLateness: '10s',
          measures: [{ name: 'n', type: 'Count' }],
        },
      ],
      sinks: { redis: { ttl: '1h' } },
    });
    await start(pipeline);
    const t0 = Date.parse('2026-04-01T10:00:00Z');
    await produce(kafka, pipeline.topics.Input, [
      'not json {',
      '[1, 2]',
      { user: 'a' },
      { ts: t0 + 1_000 },
      { ts: t0 + 75_000 }, // the watermark passes 70 s: [10:00, 10:01) is closed and past its lateness
      { ts: t0 + 2_000 }, // too late
      { ts: '2026-04-01T10:01:30Z' },
    ]);
    const dead = await readCommitted(kafka, pipeline.topics.DeadLetter, (r) => r.length >= 4);
    assert.deepEqual(
      dead.map((m) => header(m, 'weir-dlq-reason')),
      ['InvalidJson', 'NotAnObject', 'InvalidEventTime', 'TooLate'],
    );
    assert.equal(dead[0]!.value?.toString(), 'not json {', 'the event as it arrived');
    assert.match(
      header(dead[2]!, 'weir-dlq-message')!,
      /\/ts must be an RFC 3339 time or epoch milliseconds; the event has none/,
    );
    assert.equal(header(dead[2]!, 'weir-dlq-aggregation'), 'per_minute');
    assert.match(header(dead[3]!, 'weir-dlq-message')!, /too late: the watermark is at 2026-04-01T10:01:14\.000Z/);
    assert.deepEqual(
      dead.map((m) => [header(m, 'weir-source-topic'), header(m, 'weir-source-offset')]),
      [0, 1, 2, 5].map((o) => [pipeline.topics.Input, String(o)]),
    );
    const hash = await redis.hgetall(currentResultKey(tenant.name, 'malformed', 'per_minute', '[]'));
    assert.equal(hash.windowStart, String(t0 + 60_000));
    assert.equal(hash['m:n'], '2');
  });
});

describe('a poison event', () => {
  it('goes through its retries to the dead-letter topic without holding up the rest, and a re-drive after the fix counts it', async () => {
    const pipeline = await createPipeline(tenant, 'poison', {
      source: { partitions: 2, partitionKey: '/user' },
      enrich: [
        {
          name: 'customer',
          key: '/customer',
          into: 'customer',
          postgres: { table: 'customers', keyColumn: 'id' },
          cache: { l1Ttl: '1s', l2Ttl: '1s' },
        },
      ],
      aggregate: [
        {
          name: 'per_user',
          window: { type: 'Tumbling', size: '1h' },
          eventTime: { field: '/ts', idleTimeout: '1h' },
          groupBy: ['/user'],
          measures: [
            { name: 'n', type: 'Count' },
            { name: 'credit', type: 'Sum', field: '/customer/credit' },
          ],
        },
      ],
      sinks: { redis: { ttl: '1h' } },
      failure: { maxRetries: 2, backoff: { initial: '200ms', max: '1s', multiplier: 2 } },
    });
    // The tenant's own table, made with the tenant's own role.
    const db = new pg.Client({
      connectionString: `postgres://${tenant.env.WEIR_POSTGRES_USERNAME}:${tenant.env.WEIR_POSTGRES_PASSWORD}@${tenant.env.WEIR_POSTGRES_ENDPOINT}/${tenant.env.WEIR_POSTGRES_DATABASE}`,
    });
    await db.connect();
    await db.query('CREATE TABLE customers (id integer PRIMARY KEY, credit integer NOT NULL)');
    await db.query('INSERT INTO customers SELECT i, i * 10 FROM generate_series(1, 5) i');
    const processor = await start(pipeline);
    const now = Date.now();
    const poison = [0, 1, 2].map((i) => ({ user: 'alice', customer: 'abc', ts: now + i }));
    const good = Array.from({ length: 60 }, (_, i) => ({
      user: i % 2 ? 'alice' : 'bob',
      customer: (i % 5) + 1,
      ts: now + 10 + i,
    }));
    await produce(kafka, pipeline.topics.Input, [...poison, ...good], (e: { user: string }) => e.user);
    const key = (user: string) => currentResultKey(tenant.name, 'poison', 'per_user', `["${user}"]`);
    // The good events behind the poison are counted before its retries are over.
    const counted = async () =>
      Number((await redis.hget(key('alice'), 'm:n')) ?? 0) + Number((await redis.hget(key('bob'), 'm:n')) ?? 0);
    const deadline = Date.now() + 30_000;
    while ((await counted()) < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await counted(), 60);
    assert.ok(
      (await processor.metric('weir_processor_dead_letters_total{reason="RetriesExhausted"}')) < 3,
      'the poison was still being retried',
    );

    const dead = await readCommitted(kafka, pipeline.topics.DeadLetter, (r) => r.length >= 3);
    assert.equal(dead.length, 3);
    for (const m of dead) {
      assert.equal(header(m, 'weir-dlq-reason'), 'RetriesExhausted');
      assert.equal(header(m, 'weir-attempts'), '3');
      assert.match(
        header(m, 'weir-dlq-message')!,
        /2 retries failed; the last: enrichment customer failed: invalid input syntax for type integer: "abc"/,
      );
    }
    const retries = await readCommitted(kafka, pipeline.topics.Retry, (r) => r.length >= 6);
    assert.deepEqual(retries.map((m) => header(m, 'weir-retry-attempt')).sort(), ['1', '1', '1', '2', '2', '2']);
    const bobCredit = Number(await redis.hget(key('bob'), 'm:credit'));

    // The fix: the key column takes text, and the customer exists.
    await db.query('ALTER TABLE customers ALTER COLUMN id TYPE text USING id::text');
    await db.query("INSERT INTO customers VALUES ('abc', 1000)");
    await db.end();
    const redriven = spawnSync(process.execPath, ['dataplane/processor/redrive.ts', '--config', pipeline.configPath], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.equal(redriven.status, 0, redriven.stderr);
    assert.deepEqual(JSON.parse(redriven.stdout), { redriven: 3, passedOver: {}, dryRun: false });
    const aliceCounted = async () => Number(await redis.hget(key('alice'), 'm:n'));
    const until = Date.now() + 30_000;
    while ((await aliceCounted()) < 33 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await aliceCounted(), 33);
    const aliceCredit = good.filter((e) => e.user === 'alice').reduce((sum, e) => sum + e.customer * 10, 0);
    assert.equal(Number(await redis.hget(key('alice'), 'm:credit')), aliceCredit + 3 * 1000);
    assert.equal(Number(await redis.hget(key('bob'), 'm:credit')), bobCredit);
    // Run again: nothing is re-driven twice.
    const again = spawnSync(process.execPath, ['dataplane/processor/redrive.ts', '--config', pipeline.configPath], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.deepEqual(JSON.parse(again.stdout), { redriven: 0, passedOver: {}, dryRun: false });
  });
});
