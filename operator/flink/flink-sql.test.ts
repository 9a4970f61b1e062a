import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { redactSecrets } from '../../lib/flink/sql-gateway-client.ts';
import { jobNamePrefix, signatureOfJobName, translatePipeline, type FlinkJob, type Translation } from './flink-sql.ts';

const TOPICS = {
  input: 'weir.tenant-a.clicks.input',
  output: 'weir.tenant-a.clicks.output',
  deadLetter: 'weir.tenant-a.clicks.dlq',
};

const tumbling = {
  name: 'per_minute',
  window: { type: 'Tumbling', size: '1m' },
  eventTime: { field: '/ts', maxOutOfOrderness: '5s' },
  groupBy: ['/user'],
  measures: [
    { name: 'count', type: 'Count' },
    { name: 'total', type: 'Sum', field: '/amount' },
  ],
};

function translate(spec: Record<string, unknown>): Translation {
  return translatePipeline({
    namespace: 'tenant-a',
    name: 'clicks',
    spec: PipelineSpec.parse({ engine: 'Flink', aggregate: [tumbling], ...spec }),
    topics: TOPICS,
    bootstrapServers: ['kafka-0:9092'],
  });
}

function job(spec: Record<string, unknown> = {}): FlinkJob {
  const t = translate(spec);
  assert.ok(t.ok, JSON.stringify(t));
  return t.job;
}

const sql = (spec: Record<string, unknown> = {}) => job(spec).statements.join('\n');

describe('translatePipeline', () => {
  const windows: [string, Record<string, unknown>, RegExp][] = [
    [
      'turns a Tumbling window into TUMBLE of its size',
      { type: 'Tumbling', size: '1m' },
      /TUMBLE\(TABLE `timed_0`, DESCRIPTOR\(`weir_event_time`\), INTERVAL '0 00:01:00.000' DAY TO SECOND\(3\)\)/,
    ],
    [
      'turns a Sliding window into HOP of its slide and size',
      { type: 'Sliding', size: '10m', slide: '1m' },
      /HOP\(TABLE `open_0`, DESCRIPTOR\(`weir_slice_time`\), INTERVAL '0 00:01:00.000' DAY TO SECOND\(3\), INTERVAL '0 00:10:00.000' DAY TO SECOND\(3\)\)/,
    ],
    [
      'turns a Session window into SESSION partitioned by the group keys',
      { type: 'Session', gap: '30s' },
      /SESSION\(TABLE `open_0` PARTITION BY `k0`, DESCRIPTOR\(`weir_event_time`\), INTERVAL '0 00:00:30.000' DAY TO SECOND\(3\)\)/,
    ],
  ];
  for (const [name, window, want] of windows)
    it(name, () => assert.match(sql({ aggregate: [{ ...tumbling, window }] }), want));

  it('takes event time from the field and the watermark from maxOutOfOrderness, a millisecond behind as Flink fires windows', () => {
    const text = sql();
    assert.match(
      text,
      /`weir_event_time` AS CASE WHEN TRY_CAST\(JSON_VALUE\(`payload`, '\$\[''ts'']'\) AS BIGINT\) IS NOT NULL THEN TO_TIMESTAMP_LTZ\(/,
    );
    assert.match(
      text,
      /WATERMARK FOR `weir_event_time` AS `weir_event_time` - INTERVAL '0 00:00:05.001' DAY TO SECOND\(3\)/,
    );
  });

  it('shows every accumulator in the output, so the planner prunes none and measures can change', () => {
    const text = sql();
    assert.match(
      text,
      /`events` BIGINT, `measures` ROW<`count` BIGINT, `total` DOUBLE>, `fields` ROW<`\/amount` ROW<`count` BIGINT, `sum` DOUBLE, `min` DOUBLE, `max` DOUBLE>>/,
    );
    assert.match(text, /ROW\(ROW\(`n0`, `s0`, `lo0`, `hi0`\)\)/);
  });

  it('reads and writes only the topics it is given, exactly once', () => {
    const text = sql({ aggregate: [tumbling, { ...tumbling, name: 'second' }] });
    const topics = new Set([...text.matchAll(/'topic' = '([^']*)'/g)].map((m) => m[1]));
    assert.deepEqual([...topics].sort(), [TOPICS.deadLetter, TOPICS.input, TOPICS.output]);
    assert.equal([...text.matchAll(/'sink.delivery-guarantee' = 'exactly-once'/g)].length, 4);
    assert.equal([...text.matchAll(/'properties.isolation.level' = 'read_committed'/g)].length, 2);
  });

  it('names the job after the pipeline, its state signature and the hash of its SQL', () => {
    const j = job();
    assert.ok(j.name.startsWith(jobNamePrefix('tenant-a', 'clicks')));
    assert.match(j.name, /@[0-9a-f]{16}\.[0-9a-f]{12}$/);
    assert.equal(signatureOfJobName(j.name), j.stateSignature);
    assert.equal(j.statements[0], `SET 'pipeline.name' = '${j.name}'`);
    assert.equal(job().name, j.name, 'the same spec gives the same job');
  });

  it('keeps the state signature when measures of an already measured field change', () => {
    const more = {
      ...tumbling,
      measures: [
        { name: 'n', type: 'Count' },
        { name: 'sum', type: 'Sum', field: '/amount' },
        { name: 'mean', type: 'Avg', field: '/amount' },
        { name: 'max', type: 'Max', field: '/amount' },
      ],
    };
    const before = job();
    const after = job({ aggregate: [more] });
    assert.notEqual(after.name, before.name);
    assert.equal(after.stateSignature, before.stateSignature);
  });

  const stateChanges: [string, Record<string, unknown>][] = [
    [
      'a measure of a new field',
      { measures: [...tumbling.measures, { name: 'qty', type: 'Sum', field: '/quantity' }] },
    ],
    ['another window size', { window: { type: 'Tumbling', size: '2m' } }],
    ['other group keys', { groupBy: ['/country'] }],
  ];
  for (const [name, change] of stateChanges)
    it(`changes the state signature for ${name}`, () =>
      assert.notEqual(job({ aggregate: [{ ...tumbling, ...change }] }).stateSignature, job().stateSignature));

  const unsupported: [string, Record<string, unknown>, RegExp][] = [
    [
      'allowed lateness, which Flink SQL windows cannot honour',
      { aggregate: [{ ...tumbling, allowedLateness: '1m' }] },
      /aggregate\[per_minute\]\.allowedLateness/,
    ],
    [
      'a Function measure',
      { aggregate: [{ ...tumbling, measures: [{ name: 'f', type: 'Function', field: '/x', function: 'mine' }] }] },
      /measures\[f\]\.type: Function/,
    ],
    [
      'a sliding window whose size is not a multiple of its slide',
      { aggregate: [{ ...tumbling, window: { type: 'Sliding', size: '10m', slide: '3m' } }] },
      /whole multiple of the slide/,
    ],
    ['a Postgres sink', { sinks: { postgres: { table: 'results' } } }, /^sinks\.postgres/],
    ['a Redis sink', { sinks: { redis: {} } }, /^sinks\.redis/],
    ['enrichment', { enrich: [{ name: 'u', key: '/user', into: 'user', redis: { hashPrefix: 'u:' } }] }, /^enrich/],
    ['a pipeline without aggregations', { aggregate: [] }, /^aggregate: /],
  ];
  for (const [name, spec, want] of unsupported)
    it(`answers Unsupported for ${name}`, () => {
      const t = translate(spec);
      assert.equal(t.ok, false);
      if (!t.ok) {
        assert.equal(t.reason, 'Unsupported');
        assert.match(t.message, want);
      }
    });

  it('keeps hostile field names inside literals and identifiers', () => {
    const text = sql({
      aggregate: [
        {
          ...tumbling,
          groupBy: ["/x'), ('y"],
          measures: [{ name: 'total', type: 'Sum', field: '/a`) FROM t; --' }],
        },
      ],
    });
    // Every quote of the hostile pointer is doubled; its back quote is inside a string literal.
    assert.ok(text.includes("JSON_VALUE(`payload`, '$[''x\\''), (\\''y'']') AS `k0`"), text);
    assert.ok(text.includes("MAP['/x''), (''y', `k0`]"), text);
    assert.ok(text.includes("JSON_VALUE(`payload`, '$[''a`) FROM t; --'']')"), text);
  });
});

describe('the Kafka connection of a Flink job', () => {
  const withSecurity = (kafkaSecurity: Parameters<typeof translatePipeline>[0]['kafkaSecurity']) => {
    const t = translatePipeline({
      namespace: 'tenant-a',
      name: 'clicks',
      spec: PipelineSpec.parse({ engine: 'Flink', aggregate: [tumbling] }),
      topics: TOPICS,
      bootstrapServers: ['kafka-0:9093'],
      kafkaSecurity,
    });
    assert.ok(t.ok, JSON.stringify(t));
    return t.job.statements.filter(
      (s) => s.startsWith('CREATE TEMPORARY TABLE') && s.includes("'connector' = 'kafka'"),
    );
  };

  it("connects every Kafka table as the tenant's SCRAM user, with the connector's relocated login module", () => {
    const tables = withSecurity({
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'weir-tenant-a', password: 'p"w\\d' },
    });
    assert.equal(tables.length, 3);
    for (const t of tables) {
      assert.match(t, /'properties.security.protocol' = 'SASL_PLAINTEXT'/);
      assert.match(t, /'properties.sasl.mechanism' = 'SCRAM-SHA-512'/);
      assert.ok(
        t.includes(
          `'properties.sasl.jaas.config' = 'org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule required username="weir-tenant-a" password="p\\"w\\\\d";'`,
        ),
        t,
      );
    }
  });

  it('uses SASL_SSL with TLS, SSL with TLS alone, and nothing without either', () => {
    const scram = { mechanism: 'SCRAM-SHA-256' as const, username: 'u', password: 'p' };
    assert.match(withSecurity({ sasl: scram, tls: true })[0]!, /'properties.security.protocol' = 'SASL_SSL'/);
    assert.match(withSecurity({ tls: true })[0]!, /'properties.security.protocol' = 'SSL'/);
    assert.doesNotMatch(withSecurity(undefined)[0]!, /security.protocol|sasl/);
  });

  it('never shows the password in an error message', () => {
    const message = `CREATE TEMPORARY TABLE …: 'properties.sasl.jaas.config'='… username="u" password="s3cr\\"et";' and password=\\"json-escaped\\"`;
    const redacted = redactSecrets(message);
    assert.ok(!redacted.includes('s3cr') && !redacted.includes('json-escaped'), redacted);
    assert.match(redacted, /password="\*\*\*"/);
  });
});
