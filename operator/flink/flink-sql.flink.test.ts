/**
 * The translated SQL on the real Flink and Kafka: fixed event sets, with out-of-order,
 * too-late and timeless events, go into a pipeline's input topic through a plain kafkajs
 * producer, and the output and dead-letter topics, read with read_committed, hold exactly
 * the windows computed by hand here and every event that was not counted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { JobManagerClient } from '../../lib/flink/job-manager-client.ts';
import { SqlGatewayClient } from '../../lib/flink/sql-gateway-client.ts';
import { translatePipeline } from './flink-sql.ts';
import { submitJob } from './job-submitter.ts';
import { createTopics, kafkaClient, produce, readUntil, type Record } from './testing/kafka-io.ts';

let kafka: Kafka;
let gateway: SqlGatewayClient;
let jobManager: JobManagerClient;
const jobs: string[] = [];

before(() => {
  kafka = kafkaClient();
  gateway = new SqlGatewayClient({ url: process.env.WEIR_FLINK_SQL_GATEWAY_URL ?? '' });
  jobManager = new JobManagerClient({ url: process.env.WEIR_FLINK_JOBMANAGER_URL ?? '' });
});

after(async () => {
  await Promise.allSettled(jobs.map((id) => jobManager.cancel(id)));
});

/** Runs the pipeline's job on its own fresh topics, sends the events and returns the topics' names. */
async function run(aggregate: unknown[], events: unknown[]): Promise<{ output: string; deadLetter: string }> {
  const name = `t${randomBytes(4).toString('hex')}`;
  const topics = {
    input: `weir.tenant-sql.${name}.input`,
    output: `weir.tenant-sql.${name}.output`,
    deadLetter: `weir.tenant-sql.${name}.dlq`,
  };
  await createTopics(kafka, Object.values(topics));
  const translation = translatePipeline({
    namespace: 'tenant-sql',
    name,
    spec: PipelineSpec.parse({ engine: 'Flink', aggregate }),
    topics,
    bootstrapServers: [process.env.WEIR_KAFKA_BROKERS!],
    checkpointIntervalMs: 1000,
  });
  assert.ok(translation.ok, JSON.stringify(translation));
  jobs.push(await submitJob(gateway, translation.job));
  await produce(kafka, topics.input, events);
  return topics;
}

interface Result {
  aggregation: string;
  events?: number;
  fields?: unknown;
  windowStart: string;
  windowEnd: string;
  group?: { [pointer: string]: string };
  measures: { [name: string]: unknown };
}

/** Results in window and group order, numbers to 12 digits: PERCENTILE's interpolation is floating-point. */
const parse = (records: Record[]) =>
  records
    .map(
      (r) => JSON.parse(r.value, (_, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v)) as Result,
    )
    .sort((a, b) =>
      `${a.windowStart}${JSON.stringify(a.group)}`.localeCompare(`${b.windowStart}${JSON.stringify(b.group)}`),
    );
const at = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** Dead letters with their reason and aggregation, sorted: each reason has a writer of its own. */
const reasons = (records: Record[]) =>
  records
    .map((r) => [JSON.parse(r.value), r.headers['weir-reason'], r.headers['weir-aggregation']])
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe('the translated job on Flink', () => {
  it('computes every measure of a tumbling window by group and dead-letters too-late and timeless events', async () => {
    const { output, deadLetter } = await run(
      [
        {
          name: 'spend',
          window: { type: 'Tumbling', size: '10s' },
          eventTime: { field: '/ts', maxOutOfOrderness: '5s' },
          groupBy: ['/user'],
          measures: [
            { name: 'count', type: 'Count' },
            { name: 'total', type: 'Sum', field: '/amount' },
            { name: 'mean', type: 'Avg', field: '/amount' },
            { name: 'low', type: 'Min', field: '/amount' },
            { name: 'high', type: 'Max', field: '/amount' },
            { name: 'sessions', type: 'Distinct', field: '/session' },
            { name: 'p', type: 'Percentiles', field: '/amount', percentiles: [50, 90] },
          ],
        },
      ],
      [
        { user: 'a', ts: 1000, amount: 10, session: 's1' },
        { user: 'a', ts: 3000, amount: 20, session: 's2' },
        { user: 'b', ts: 4000, amount: 5, session: 's1' },
        { user: 'a', ts: 12000, amount: 7, session: 's1' }, // watermark 7 s
        { user: 'a', ts: '1970-01-01T00:00:02Z', amount: 30, session: 's3' }, // out of order, on time
        { user: 'b', ts: '1970-01-01T01:00:16+01:00', amount: 4, session: 's1' }, // 16 s; watermark 11 s
        { user: 'a', ts: 5000, amount: 1, session: 's9' }, // its window [0, 10 s) has fired: too late
        { user: 'a', amount: 3 }, // no event time
        { user: 'c', ts: 40000, amount: 2, session: 's1' }, // watermark 35 s: [10 s, 20 s) fires
      ],
    );
    const all = parse(await readUntil(kafka, output, (r) => r.length >= 4));
    // Every window counts its events and shows the accumulators of each measured field.
    assert.deepEqual(
      all.map((r) => r.events),
      [3, 1, 1, 1],
    );
    assert.deepEqual(all[0]?.fields, {
      '/amount': { count: 3, sum: 60, min: 10, max: 30, percentiles: [20, 28] },
      '/session': { distinct: 3 },
    });
    const results = all.map(({ events: _, fields: __, ...rest }) => rest);
    const row = (start: number, user: string, measures: Result['measures']): Result => ({
      aggregation: 'spend',
      windowStart: at(start),
      windowEnd: at(start + 10_000),
      group: { '/user': user },
      measures,
    });
    assert.deepEqual(results, [
      row(0, 'a', { count: 3, total: 60, mean: 20, low: 10, high: 30, sessions: 3, p: { '50': 20, '90': 28 } }),
      row(0, 'b', { count: 1, total: 5, mean: 5, low: 5, high: 5, sessions: 1, p: { '50': 5, '90': 5 } }),
      row(10_000, 'a', { count: 1, total: 7, mean: 7, low: 7, high: 7, sessions: 1, p: { '50': 7, '90': 7 } }),
      row(10_000, 'b', { count: 1, total: 4, mean: 4, low: 4, high: 4, sessions: 1, p: { '50': 4, '90': 4 } }),
    ]);
    const dead = reasons(await readUntil(kafka, deadLetter, (r) => r.length >= 2));
    assert.deepEqual(dead, [
      [{ user: 'a', amount: 3 }, 'invalid-event-time', 'spend'],
      [{ user: 'a', ts: 5000, amount: 1, session: 's9' }, 'too-late', 'spend'],
    ]);
  });

  it('counts a sliding window event in each window still open and dead-letters it when none is', async () => {
    const { output, deadLetter } = await run(
      [
        {
          name: 'moving',
          window: { type: 'Sliding', size: '10s', slide: '5s' },
          eventTime: { field: '/t', maxOutOfOrderness: '5s' },
          measures: [
            { name: 'n', type: 'Count' },
            { name: 'sum', type: 'Sum', field: '/v' },
          ],
        },
      ],
      [
        { t: 1000, v: 1 },
        { t: 2000, v: 2 },
        { t: 12000, v: 3 }, // watermark 7 s: [-5 s, 5 s) fires
        { t: 3000, v: 4 }, // only [0, 10 s) is still open
        { t: 30000, v: 5 }, // watermark 25 s
        { t: 6000, v: 6 }, // [0, 10 s) and [5 s, 15 s) have fired: too late
        { t: 60000, v: 7 }, // watermark 55 s
      ],
    );
    const results = parse(await readUntil(kafka, output, (r) => r.length >= 6)).map((r) => [
      r.windowStart,
      r.measures.n,
      r.measures.sum,
    ]);
    assert.deepEqual(results, [
      [at(-5000), 2, 3],
      [at(0), 3, 7],
      [at(5000), 1, 3],
      [at(10_000), 1, 3],
      [at(25_000), 1, 5],
      [at(30_000), 1, 5],
    ]);
    assert.deepEqual(reasons(await readUntil(kafka, deadLetter, (r) => r.length >= 1)), [
      [{ t: 6000, v: 6 }, 'too-late', 'moving'],
    ]);
  });

  it('closes session windows per key after the gap and dead-letters an event whose gap has passed', async () => {
    const { output, deadLetter } = await run(
      [
        {
          name: 'visits',
          window: { type: 'Session', gap: '5s' },
          eventTime: { field: '/t', maxOutOfOrderness: '0s' },
          groupBy: ['/user'],
          measures: [{ name: 'n', type: 'Count' }],
        },
      ],
      [
        { user: 'a', t: 1000 },
        { user: 'b', t: 2000 },
        { user: 'a', t: 3000 },
        { user: 'a', t: 20000 }, // watermark 20 s: a's [1 s, 8 s) and b's [2 s, 7 s) close
        { user: 'a', t: 4000 }, // its own gap ends at 9 s, behind the watermark: too late
        { user: 'z', t: 60000 },
      ],
    );
    const results = parse(await readUntil(kafka, output, (r) => r.length >= 3)).map((r) => [
      r.group?.['/user'],
      r.windowStart,
      r.windowEnd,
      r.measures.n,
    ]);
    assert.deepEqual(results, [
      ['a', at(1000), at(8000), 2],
      ['b', at(2000), at(7000), 1],
      ['a', at(20_000), at(25_000), 1],
    ]);
    assert.deepEqual(reasons(await readUntil(kafka, deadLetter, (r) => r.length >= 1)), [
      [{ user: 'a', t: 4000 }, 'too-late', 'visits'],
    ]);
  });

  it('reads fields whose names hold quotes, back quotes and SQL as data', async () => {
    const key = "we'ird`key\\x";
    const field = "a'); DROP TABLE x; --";
    const { output } = await run(
      [
        {
          name: 'hostile',
          window: { type: 'Tumbling', size: '10s' },
          eventTime: { field: '/t', maxOutOfOrderness: '0s' },
          groupBy: [`/${key}`],
          measures: [{ name: 'total', type: 'Sum', field: `/${field}` }],
        },
      ],
      [
        { t: 1000, [key]: 'k', [field]: 2 },
        { t: 2000, [key]: 'k', [field]: 3 },
        { t: 30000, [key]: 'k', [field]: 1 },
      ],
    );
    const [result] = parse(await readUntil(kafka, output, (r) => r.length >= 1));
    assert.equal(result?.events, 2);
    assert.deepEqual(result?.group, { [`/${key}`]: 'k' });
    assert.equal(result?.measures.total, 5);
  });
});
