/**
 * The processor as a process against real Kafka, Redis and Postgres, connected as a tenant
 * made by the operator's own stores. Results are checked with plain clients: a kafkajs
 * consumer in read_committed mode, and admin connections to Redis and Postgres.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort } from '../../hack/local-env/ports.ts';
import { currentResultKey, groupIndexKey, updatesChannel, type ResultUpdate } from '../../lib/platform/results.ts';
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
let postgres: pg.Client;
const processors: ProcessorProcess[] = [];

async function startProcessor(pipeline: Awaited<ReturnType<typeof createPipeline>>, env: Record<string, string> = {}) {
  const p = new ProcessorProcess(pipeline, tenant, await freePort(), env);
  processors.push(p);
  await p.ready();
  return p;
}

const BASE = Date.parse('2026-03-01T00:00:00Z');
const WINDOW = 10_000;

function tumblingSpec(table: string, extra: Record<string, unknown> = {}) {
  return {
    source: { partitions: 3, partitionKey: '/user' },
    aggregate: [
      {
        name: 'per_user',
        window: { type: 'Tumbling', size: '10s' },
        eventTime: { field: '/ts', maxOutOfOrderness: '1s', idleTimeout: '1s' },
        groupBy: ['/user'],
        measures: [
          { name: 'n', type: 'Count' },
          { name: 'total', type: 'Sum', field: '/amount' },
        ],
      },
    ],
    sinks: { redis: { ttl: '1h' }, postgres: { table } },
    ...extra,
  };
}

/** Events of `users` users over `count` × 10 ms, and the count and sum every window must end with. */
function stream(count: number, users: number) {
  const events = Array.from({ length: count }, (_, i) => ({ user: `u${i % users}`, ts: BASE + i * 10, amount: i % 7 }));
  const expected = new Map<string, { n: number; total: number }>();
  for (const e of events) {
    const key = `["${e.user}"]@${Math.floor(e.ts / WINDOW) * WINDOW}`;
    const w = expected.get(key) ?? { n: 0, total: 0 };
    w.n++;
    w.total += e.amount;
    expected.set(key, w);
  }
  return { events, expected };
}

/** The final results on the output topic, by window; fails on a window written twice at one revision. */
function finals(records: { value: Buffer | null }[]): Map<string, ResultUpdate & { type: 'result' }> {
  const out = new Map<string, ResultUpdate & { type: 'result' }>();
  const seen = new Set<string>();
  for (const r of records) {
    const u = JSON.parse(r.value!.toString()) as ResultUpdate;
    if (u.type !== 'result') continue;
    const key = `${u.groupKey}@${u.windowStart}`;
    assert.ok(!seen.has(`${key}#${u.revision}`), `${key} revision ${u.revision} was written twice`);
    seen.add(`${key}#${u.revision}`);
    if ((out.get(key)?.revision ?? 0) < u.revision) out.set(key, u);
  }
  return out;
}

before(async () => {
  tenant = await createTenant(`proc-${run}`);
  redis = new Redis(envOf('WEIR_REDIS_URL'));
  postgres = new pg.Client(envOf('WEIR_POSTGRES_URL'));
  await postgres.connect();
});

after(async () => {
  await Promise.all(processors.map((p) => p.kill()));
  await redis.quit();
  await postgres.end();
});

describe('the processor', () => {
  it('keeps current windows in Redis under the tenant prefix with a message per update, and closed ones in Postgres and on the output topic', async () => {
    const pipeline = await createPipeline(tenant, 'sinks', tumblingSpec('sink_windows'));
    const subscriber = new Redis(envOf('WEIR_REDIS_URL'));
    const messages: ResultUpdate[] = [];
    await subscriber.subscribe(updatesChannel(tenant.name, 'sinks', 'per_user'));
    subscriber.on('message', (_c, m) => messages.push(JSON.parse(m) as ResultUpdate));
    await startProcessor(pipeline);
    const { events, expected } = stream(3_000, 5);
    await produce(kafka, pipeline.topics.Input, events, (e: { user: string }) => e.user);
    const records = await readCommitted(kafka, pipeline.topics.Output!, (r) => finals(r).size >= expected.size);
    const results = finals(records);
    assert.equal(results.size, expected.size);
    for (const [key, want] of expected) assert.deepEqual(results.get(key)?.measures, want, key);

    // Redis: the last window of every user, as results.ts lays it out.
    const last = Math.floor(events.at(-1)!.ts / WINDOW) * WINDOW;
    const hash = await redis.hgetall(currentResultKey(tenant.name, 'sinks', 'per_user', '["u4"]'));
    assert.equal(Number(hash.windowStart), last);
    assert.equal(hash.final, 'true');
    assert.equal(Number(hash['m:n']), expected.get(`["u4"]@${last}`)!.n);
    assert.deepEqual(JSON.parse(hash.group!), { '/user': 'u4' });
    assert.ok((await redis.pttl(currentResultKey(tenant.name, 'sinks', 'per_user', '["u4"]'))) > 3_500_000);
    assert.deepEqual(
      (await redis.zrange(groupIndexKey(tenant.name, 'sinks', 'per_user'), 0, -1)).sort(),
      ['u0', 'u1', 'u2', 'u3', 'u4'].map((u) => `["${u}"]`),
    );
    assert.ok(messages.length >= expected.size, `${messages.length} messages`);
    assert.ok(messages.every((m) => m.type === 'result' && m.aggregation === 'per_user'));

    // Postgres: every closed window, in the tenant's schema.
    const rows = await postgres.query(`SELECT group_key, window_start, measures FROM "${tenant.schema}".sink_windows`);
    assert.equal(rows.rowCount, expected.size);
    for (const row of rows.rows as { group_key: string; window_start: Date; measures: unknown }[])
      assert.deepEqual(row.measures, expected.get(`${row.group_key}@${row.window_start.getTime()}`));
    await subscriber.quit();
  });

  it('counts every event exactly once when it is killed with SIGKILL mid-stream and started again', async () => {
    const pipeline = await createPipeline(tenant, 'crash', tumblingSpec('crash_windows'));
    const { events, expected } = stream(40_000, 10);
    const first = await startProcessor(pipeline);
    // Produced a slice at a time, so that the kill lands in the middle of the stream.
    const slices = Array.from({ length: 20 }, (_, i) => events.slice(i * 2_000, (i + 1) * 2_000));
    let processed = 0;
    for (const slice of slices.splice(0, 10))
      await produce(kafka, pipeline.topics.Input, slice, (e: { user: string }) => e.user);
    const deadline = Date.now() + 30_000;
    while (
      (processed = await first.metric('weir_processor_records_total{topic="input"}')) < 5_000 &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 20));
    await first.kill('SIGKILL');
    assert.ok(processed >= 5_000 && processed < events.length, `killed after ${processed} of ${events.length} records`);
    for (const slice of slices) await produce(kafka, pipeline.topics.Input, slice, (e: { user: string }) => e.user);
    await startProcessor(pipeline);
    const records = await readCommitted(kafka, pipeline.topics.Output!, (r) => finals(r).size >= expected.size, 90_000);
    const results = finals(records);
    assert.equal(results.size, expected.size);
    for (const [key, want] of expected) assert.deepEqual(results.get(key)?.measures, want, key);
    assert.equal(records.length, expected.size, 'one result per window: none lost, none doubled');
    const rows = await postgres.query(
      `SELECT count(*)::int AS windows, sum((measures->>'n')::int)::int AS n FROM "${tenant.schema}".crash_windows`,
    );
    assert.deepEqual(rows.rows[0], { windows: expected.size, n: events.length });
  });

  it("masks the tenant's PII fields before anything is stored, and still groups and counts by them", async () => {
    const pipeline = await createPipeline(
      tenant,
      'private',
      tumblingSpec('private_windows', {
        aggregate: [
          {
            name: 'per_user',
            window: { type: 'Tumbling', size: '10s' },
            eventTime: { field: '/ts', maxOutOfOrderness: '1s', idleTimeout: '1s' },
            groupBy: ['/user'],
            measures: [
              { name: 'n', type: 'Count' },
              { name: 'cards', type: 'Distinct', field: '/card' },
            ],
          },
        ],
      }),
      { piiFields: ['/user', '/card'] },
    );
    await startProcessor(pipeline);
    const emails = ['alice@example.com', 'bob@example.com'];
    const events = Array.from({ length: 40 }, (_, i) => ({
      user: emails[i % 2],
      card: `4111-${i % 4}`,
      ts: BASE + i * 100,
    }));
    await produce(kafka, pipeline.topics.Input, events, (e: { user: string }) => e.user);
    const records = await readCommitted(kafka, pipeline.topics.Output!, (r) => finals(r).size >= 2);
    const results = [...finals(records).values()];
    assert.deepEqual(
      results.map((r) => r.measures).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        { n: 20, cards: 2 },
        { n: 20, cards: 2 },
      ],
    );
    for (const r of results) assert.match(String(r.group['/user']), /^pii:[A-Za-z0-9_-]{22}$/);
    const stored = [
      JSON.stringify(records.map((r) => r.value?.toString())),
      JSON.stringify(
        await Promise.all(
          (await redis.keys(`tenant:${tenant.name}:*private*`)).map(async (k) => [
            k,
            (await redis.type(k)) === 'hash' ? await redis.hgetall(k) : await redis.zrange(k, 0, -1),
          ]),
        ),
      ),
      JSON.stringify((await postgres.query(`SELECT * FROM "${tenant.schema}".private_windows`)).rows),
      JSON.stringify(
        (await readCommitted(kafka, pipeline.topics.Changelog, (r) => r.length > 0)).map((r) => [
          r.key?.toString(),
          r.value?.toString(),
        ]),
      ),
    ].join('\n');
    for (const secret of [...emails, '4111-0', '4111-1']) assert.ok(!stored.includes(secret), `${secret} was stored`);
  });

  it('runs with the topic sink off, when the pipeline has no output topic at all', async () => {
    const pipeline = await createPipeline(
      tenant,
      'quiet',
      tumblingSpec('quiet_windows', { sinks: { redis: { ttl: '1h' }, topic: { enabled: false } } }),
    );
    assert.equal(pipeline.topics.Output, undefined);
    await startProcessor(pipeline);
    await produce(
      kafka,
      pipeline.topics.Input,
      [
        { user: 'u1', ts: BASE, amount: 2 },
        { user: 'u1', ts: BASE + 5, amount: 3 },
      ],
      (e: { user: string }) => e.user,
    );
    const key = currentResultKey(tenant.name, 'quiet', 'per_user', '["u1"]');
    const deadline = Date.now() + 20_000;
    while ((await redis.hget(key, 'final')) !== 'true' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      [await redis.hget(key, 'm:n'), await redis.hget(key, 'm:total'), await redis.hget(key, 'final')],
      ['2', '5', 'true'],
    );
  });
});
