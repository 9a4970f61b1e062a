/**
 * The same fixed event set, with out-of-order, too-late and timeless events, through both
 * engines: engine Native's aggregation engine (dataplane/processor/engine, driven in this
 * process as the processor drives it, one partition) and engine Flink's translated job on
 * the real Flink and Kafka. For every window type, the closed windows carry the same events
 * and the same Count, Sum, Avg, Min, Max and Distinct, and the same events are too late or
 * timeless. Percentiles are left out: engine Native's DDSketch (1 % relative error) and
 * Flink's exact PERCENTILE with interpolation are different definitions.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { PipelineSpec } from '../crds/pipeline.ts';
import { AggregationEngine } from '../dataplane/processor/engine/aggregation-engine.ts';
import { FakeClock } from '../lib/clock/clock.ts';
import { JobManagerClient } from '../lib/flink/job-manager-client.ts';
import { SqlGatewayClient } from '../lib/flink/sql-gateway-client.ts';
import { translatePipeline } from '../operator/flink/flink-sql.ts';
import { submitJob } from '../operator/flink/job-submitter.ts';
import { createTopics, kafkaClient, produce, readUntil } from '../operator/flink/testing/kafka-io.ts';
import { env } from './platform.ts';

const measures = [
  { name: 'n', type: 'Count' },
  { name: 'total', type: 'Sum', field: '/amount' },
  { name: 'mean', type: 'Avg', field: '/amount' },
  { name: 'low', type: 'Min', field: '/amount' },
  { name: 'high', type: 'Max', field: '/amount' },
  { name: 'sessions', type: 'Distinct', field: '/session' },
];

const aggregations = [
  { name: 'tumbling', window: { type: 'Tumbling', size: '10s' } },
  { name: 'sliding', window: { type: 'Sliding', size: '10s', slide: '5s' } },
  { name: 'session', window: { type: 'Session', gap: '4s' } },
].map((a) => ({ ...a, eventTime: { field: '/ts', maxOutOfOrderness: '3s' }, groupBy: ['/user'], measures }));

/** Event times in seconds; comments give the watermark (newest - 3 s) each one leaves behind. */
const EVENTS: unknown[] = [
  { user: 'a', ts: 1000, amount: 10, session: 's1' }, // -2 s
  { user: 'b', ts: 2000, amount: 4, session: 's1' },
  { user: 'a', ts: 4000, amount: 6, session: 's2' }, // 1 s
  { user: 'a', ts: '1970-01-01T00:00:03Z', amount: 2, session: 's1' }, // out of order, on time
  { user: 'b', ts: 11_000, amount: 5, session: 's3' }, // 8 s
  { user: 'a', ts: 9000, amount: 1, session: 's4' }, // out of order, on time for tumbling
  { user: 'a', ts: 14_000, amount: 3, session: 's1' }, // 11 s: [0, 10 s) closes
  { user: 'b', ts: 6000, amount: 9, session: 's2' }, // too late: every window type has closed it
  { user: 'a', amount: 7, session: 's1' }, // no event time
  { user: 'b', ts: '1970-01-01T01:00:17+01:00', amount: 8, session: 's1' }, // 17 s; 14 s
  { user: 'c', ts: 40_000, amount: 1, session: 's1' }, // 37 s: everything before closes
];

type Row = { aggregation: string; start: number; end: number; user: string; events: number; measures: object };

const key = (r: Row) => `${r.aggregation} ${String(r.start).padStart(8)} ${r.user}`;
const sorted = (rows: Row[]) => [...rows].sort((x, y) => key(x).localeCompare(key(y)));

/** Engine Native, as the processor runs it on one partition: every closed window and every refusal. */
function native(spec: PipelineSpec): { rows: Row[]; refused: string[] } {
  const engine = new AggregationEngine({ aggregations: spec.aggregate!, clock: new FakeClock(), partitions: [0] });
  const refused: string[] = [];
  for (const event of EVENTS)
    for (const r of engine.process({ partition: 0, event }))
      refused.push(
        `${r.aggregation} ${r.reason === 'TooLate' ? 'too-late' : 'invalid-event-time'} ${JSON.stringify(event)}`,
      );
  const rows = engine
    .drain()
    .results.filter((r) => r.final)
    .map((r) => ({
      aggregation: r.aggregation,
      start: r.windowStart,
      end: r.windowEnd,
      user: String(r.group['/user']),
      events: r.events,
      measures: r.measures,
    }));
  return { rows, refused };
}

let kafka: Kafka;
let jobId: string | undefined;
const jobManager = () => new JobManagerClient({ url: env('WEIR_FLINK_JOBMANAGER_URL') });

before(() => {
  kafka = kafkaClient();
});

after(async () => {
  if (jobId) await jobManager().cancel(jobId);
});

describe('engine Native and engine Flink', () => {
  it('give the same closed windows, measures and dead letters for the same events, for every window type', async () => {
    const spec = PipelineSpec.parse({ engine: 'Flink', aggregate: aggregations });
    const expected = native(spec);
    // The fixture must exercise what it claims to: closed windows, too-late and timeless events for each type.
    for (const a of aggregations) assert.ok(expected.rows.filter((r) => r.aggregation === a.name).length >= 3);
    for (const a of aggregations) {
      assert.ok(
        expected.refused.some((r) => r.startsWith(`${a.name} too-late`)),
        `${a.name}: nothing too late`,
      );
      assert.ok(expected.refused.some((r) => r.startsWith(`${a.name} invalid-event-time`)));
    }

    const name = `x${randomBytes(4).toString('hex')}`;
    const topics = {
      input: `weir.tenant-x.${name}.input`,
      output: `weir.tenant-x.${name}.output`,
      deadLetter: `weir.tenant-x.${name}.dlq`,
    };
    await createTopics(kafka, Object.values(topics));
    const translation = translatePipeline({
      namespace: 'tenant-x',
      name,
      spec,
      topics,
      bootstrapServers: [env('WEIR_KAFKA_BROKERS')],
      checkpointIntervalMs: 1000,
    });
    assert.ok(translation.ok, JSON.stringify(translation));
    jobId = await submitJob(new SqlGatewayClient({ url: env('WEIR_FLINK_SQL_GATEWAY_URL') }), translation.job);
    await produce(kafka, topics.input, EVENTS);

    const output = await readUntil(kafka, topics.output, (r) => r.length >= expected.rows.length, 120_000);
    const flinkRows: Row[] = output.map((record) => {
      const v = JSON.parse(record.value) as {
        aggregation: string;
        windowStart: string;
        windowEnd: string;
        group: { '/user': string };
        events: number;
        measures: object;
      };
      return {
        aggregation: v.aggregation,
        start: Date.parse(v.windowStart),
        end: Date.parse(v.windowEnd),
        user: v.group['/user'],
        events: v.events,
        measures: v.measures,
      };
    });
    assert.deepEqual(sorted(flinkRows), sorted(expected.rows));

    const dead = await readUntil(kafka, topics.deadLetter, (r) => r.length >= expected.refused.length, 60_000);
    const flinkRefused = dead.map(
      (r) => `${r.headers['weir-aggregation']} ${r.headers['weir-reason']} ${JSON.stringify(JSON.parse(r.value))}`,
    );
    assert.deepEqual([...flinkRefused].sort(), [...expected.refused].sort());
  });
});
