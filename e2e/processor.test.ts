/**
 * The processor as the operator runs it — a pod of the pipeline's Deployment, run by the
 * local process node, connected to Redis and Postgres with the tenant's credentials from
 * its Secret — against real Kafka, Redis and Postgres:
 * - every window type and measure over a fixed stream with out-of-order, late and too-late
 *   events, against an independent computation, nothing silently dropped;
 * - a SIGKILL of the processor and a broker restart mid-stream, after which every window
 *   holds exactly its events, counted with a plain read_committed kafkajs consumer;
 * - a poison event through its retries to the dead-letter topic, and back after a fix;
 * - tenant isolation of the credentials the processor runs with.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import type { KafkaMessage } from 'kafkajs';
import pg from 'pg';
import { PipelineSpec } from '../crds/pipeline.ts';
import { hasLocalEnv, restartComponent } from '../hack/local-env/control-client.ts';
import { fixedEvents } from '../dataplane/processor/engine/testing/fixed-events.ts';
import { oracle } from '../dataplane/processor/engine/testing/oracle.ts';
import { checkClient, produce, readCommitted } from '../dataplane/processor/testing/processor-process.ts';
import { currentResultKey, type ResultUpdate } from '../lib/platform/results.ts';
import { applyWeirObject, root, type Clients } from './cluster.ts';
import { eventually } from './eventually.ts';
import type { OperatorProcess } from './operator-process.ts';
import { env, readyTenant, setUpPlatform, startOperator } from './platform.ts';

const TENANT = 'flows';
const NS = `tenant-${TENANT}`;
const RIVAL = 'rivals';
let clients: Clients;
let operator: OperatorProcess;
let redis: Redis;
const kafka = checkClient();

function pipeline(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'weir.dev/v1alpha1', kind: 'Pipeline', metadata: { name, namespace: NS }, spec };
}

/** The pipeline's one processor pod, once it runs and is ready. */
async function readyProcessor(name: string, timeoutMs = 90_000): Promise<V1Pod> {
  return eventually(
    async () => {
      const pods = (
        await clients.core.listNamespacedPod({ namespace: NS, labelSelector: `weir.dev/pipeline=${name}` })
      ).items.filter((p) => !p.metadata?.deletionTimestamp);
      assert.equal(pods.length, 1);
      const pod = pods[0]!;
      assert.ok(
        pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        `${pod.metadata?.name} is not ready`,
      );
      return pod;
    },
    timeoutMs,
    500,
  );
}

/** A metric of the pod, such as `weir_processor_events_total{aggregation="a",outcome="late"}`. */
async function metric(pod: V1Pod, line: string): Promise<number> {
  const text = await (await fetch(`http://${pod.status!.podIP}:9090/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

function pidOf(pod: V1Pod): number {
  return Number((pod.status?.containerStatuses?.[0]?.containerID ?? '').slice('process://'.length));
}

/** The tenant's credentials, as the operator wrote them into its namespace. */
async function credentials(namespace: string): Promise<Record<string, string>> {
  const secret = await clients.core.readNamespacedSecret({ namespace, name: 'weir-credentials' });
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

function tenantPostgres(c: Record<string, string>): pg.Client {
  const [host, port] = c['postgres-endpoint']!.split(':');
  return new pg.Client({
    host,
    port: Number(port),
    database: c['postgres-database'],
    user: c['postgres-username'],
    password: c['postgres-password'],
  });
}

function tenantRedis(c: Record<string, string>): Redis {
  return new Redis(
    `redis://${encodeURIComponent(c['redis-username']!)}:${encodeURIComponent(c['redis-password']!)}@${c['redis-endpoint']}`,
    {
      enableReadyCheck: false,
      maxRetriesPerRequest: 1,
    },
  );
}

/** The latest result of every window on the output topic, retracted sessions left out. */
function latest(records: KafkaMessage[]): Map<string, ResultUpdate & { type: 'result' }> {
  const out = new Map<string, ResultUpdate & { type: 'result' }>();
  const retracted = new Map<string, number>();
  for (const r of records) {
    const u = JSON.parse(r.value!.toString()) as ResultUpdate;
    const key = `${u.aggregation}/${u.groupKey}@${u.windowStart}`;
    if (u.type === 'retraction') retracted.set(key, Math.max(retracted.get(key) ?? 0, u.revision));
    else if ((out.get(key)?.revision ?? 0) < u.revision) out.set(key, u);
  }
  for (const [key, revision] of retracted) if ((out.get(key)?.revision ?? Infinity) < revision) out.delete(key);
  return out;
}

const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

before(async () => {
  assert.ok(hasLocalEnv(), 'the processor e2e tests need the local environment');
  assert.ok(process.env.WEIR_PROCESS_NODE, 'the processor e2e tests need the process node: run with --with all');
  let operatorKube: string;
  ({ clients, operatorKube } = await setUpPlatform());
  operator = await startOperator(operatorKube, 'processor', ['--leader-elect=false']);
  await readyTenant(clients, TENANT, { pipelines: 5, partitions: 100 });
  await readyTenant(clients, RIVAL, { pipelines: 2, partitions: 20 });
  redis = new Redis(env('WEIR_REDIS_URL'));
});

after(async () => {
  if (process.env.WEIR_E2E_KEEP_POD_LOGS)
    (await import('node:child_process')).spawnSync('cp', [
      '-r',
      process.env.WEIR_PROCESS_NODE_LOG_DIR!,
      process.env.WEIR_E2E_KEEP_POD_LOGS,
    ]);
  await operator?.kill();
  await redis?.quit();
});

const MEASURES = [
  { name: 'n', type: 'Count' },
  { name: 'total', type: 'Sum', field: '/amount' },
  { name: 'mean', type: 'Avg', field: '/amount' },
  { name: 'low', type: 'Min', field: '/amount' },
  { name: 'high', type: 'Max', field: '/amount' },
  { name: 'buyers', type: 'Distinct', field: '/buyer' },
  { name: 'pct', type: 'Percentiles', field: '/amount', percentiles: [50, 90, 99] },
  { name: 'squares', type: 'Function', field: '/amount', function: 'squares' },
];

const WINDOWS = {
  tumbling: { type: 'Tumbling', size: '60s' },
  sliding: { type: 'Sliding', size: '60s', slide: '20s' },
  sessions: { type: 'Session', gap: '15s' },
};

describe('the processor, run by the operator', () => {
  it('computes every window type and measure as an independent computation does, with out-of-order, late and too-late events, and dead-letters only the too late', async () => {
    const spec = {
      source: { partitions: 1, retention: '1h' },
      aggregate: Object.entries(WINDOWS).map(([name, window]) => ({
        name,
        window,
        eventTime: { field: '/ts', maxOutOfOrderness: '5s', idleTimeout: '2s' },
        allowedLateness: '10s',
        groupBy: ['/user'],
        measures: MEASURES,
      })),
      functions: [
        {
          name: 'squares',
          source:
            '({ init() { return 0 }, add(a, v) { return v === null ? a : a + v * v }, merge(a, b) { return a + b }, result(a) { return a } })',
        },
      ],
      sinks: { redis: { ttl: '1h' }, postgres: { table: 'window_results' } },
      scaling: { minReplicas: 1, maxReplicas: 1 },
    };
    await eventually(() => applyWeirObject(clients.custom, pipeline('windows', spec) as never), 30_000);
    const pod = await readyProcessor('windows');
    const base = Date.parse('2026-05-01T00:00:00Z');
    const events = fixedEvents(base);
    await produce(
      kafka,
      `weir.${NS}.windows.input`,
      events.map((e) => e.event),
    );

    const parsed = PipelineSpec.parse(spec);
    const expected = new Map(parsed.aggregate!.map((a) => [a.name, oracle({ ...parsed, aggregate: [a] }, events)]));
    const wanted = [...expected.values()].reduce((n, o) => n + o.windows.size, 0);
    const finalOnes = (records: KafkaMessage[]) => [...latest(records).values()].filter((r) => r.final).length;
    const records = await readCommitted(kafka, `weir.${NS}.windows.output`, (r) => finalOnes(r) >= wanted, 90_000);
    const results = latest(records);
    for (const [aggregation, want] of expected) {
      const mine = [...results.values()].filter((r) => r.aggregation === aggregation);
      assert.deepEqual(
        mine.map((r) => `${r.groupKey}@${r.windowStart}`).sort(),
        [...want.windows.keys()].sort(),
        aggregation,
      );
      for (const r of mine) {
        const w = want.windows.get(`${r.groupKey}@${r.windowStart}`)!;
        const m = r.measures as Record<string, number | Record<string, number>>;
        assert.ok(r.final, `${aggregation} ${r.groupKey}@${r.windowStart} final`);
        assert.deepEqual(
          [r.windowEnd, m.n, m.total, m.mean, m.low, m.high, m.buyers, m.squares],
          [w.end, w.count, w.sum, w.sum / w.count, w.min, w.max, w.distinct, w.squares],
          `${aggregation} ${r.groupKey}@${r.windowStart}`,
        );
        for (const [p, exact] of Object.entries(w.percentiles)) {
          const got = (m.pct as Record<string, number>)[p]!;
          assert.ok(Math.abs(got - exact) <= 0.01 * exact, `${aggregation} ${p}: ${got} vs ${exact}`);
        }
      }
      // Nothing silently dropped: in = on time + late + too late, and the too late are dead letters.
      const counted = Object.fromEntries(
        await Promise.all(
          ['onTime', 'late', 'tooLate', 'rejected'].map(async (o) => [
            o,
            await metric(pod, `weir_processor_events_total{aggregation="${aggregation}",outcome="${o}"}`),
          ]),
        ),
      );
      const classes = want.classes;
      assert.deepEqual(
        counted,
        {
          onTime: classes.filter((c) => c === 'onTime').length,
          late: classes.filter((c) => c === 'late').length,
          tooLate: classes.filter((c) => c === 'tooLate').length,
          rejected: 0,
        },
        aggregation,
      );
      assert.equal(counted.onTime + counted.late + counted.tooLate, events.length);
      assert.ok(counted.late > 0 && counted.tooLate > 0, `${aggregation} has late and too-late events`);
    }
    const tooLate = [...expected.values()].reduce((n, o) => n + o.classes.filter((c) => c === 'tooLate').length, 0);
    const dead = await readCommitted(kafka, `weir.${NS}.windows.dlq`, (r) => r.length >= tooLate);
    assert.equal(dead.length, tooLate);
    for (const [aggregation, want] of expected)
      assert.equal(
        dead.filter(
          (m) => header(m, 'weir-dlq-aggregation') === aggregation && header(m, 'weir-dlq-reason') === 'TooLate',
        ).length,
        want.classes.filter((c) => c === 'tooLate').length,
      );
    // The tenant's Postgres table holds every closed window, as the output topic does.
    const c = await credentials(NS);
    const db = tenantPostgres(c);
    await db.connect();
    const rows = (await db.query('SELECT aggregation, group_key, window_start, measures FROM window_results')).rows as {
      aggregation: string;
      group_key: string;
      window_start: Date;
      measures: Record<string, unknown>;
    }[];
    await db.end();
    assert.equal(rows.length, wanted);
    for (const row of rows)
      assert.equal(
        row.measures.n,
        expected.get(row.aggregation)!.windows.get(`${row.group_key}@${row.window_start.getTime()}`)?.count,
      );
  });

  it('loses no event and counts none twice when its process is killed with SIGKILL and the broker restarts mid-stream', async () => {
    const spec = {
      source: { partitions: 3, partitionKey: '/user', retention: '1h' },
      aggregate: [
        {
          name: 'per_user',
          window: { type: 'Tumbling', size: '10s' },
          eventTime: { field: '/ts', maxOutOfOrderness: '1s', idleTimeout: '3s' },
          groupBy: ['/user'],
          measures: [
            { name: 'n', type: 'Count' },
            { name: 'total', type: 'Sum', field: '/amount' },
          ],
        },
      ],
      sinks: { redis: { ttl: '1h' } },
      scaling: { minReplicas: 1, maxReplicas: 1 },
    };
    await eventually(() => applyWeirObject(clients.custom, pipeline('counts', spec) as never), 30_000);
    const pod = await readyProcessor('counts');
    const base = Date.parse('2026-05-02T00:00:00Z');
    const events = Array.from({ length: 30_000 }, (_, i) => ({ user: `u${i % 12}`, ts: base + i * 10, amount: i % 7 }));
    const expected = new Map<string, { n: number; total: number }>();
    for (const e of events) {
      const key = `["${e.user}"]@${Math.floor(e.ts / 10_000) * 10_000}`;
      const w = expected.get(key) ?? { n: 0, total: 0 };
      w.n++;
      w.total += e.amount;
      expected.set(key, w);
    }
    const topic = `weir.${NS}.counts.input`;
    const slice = (from: number, to: number) =>
      produce(kafka, topic, events.slice(from, to), (e: { user: string }) => e.user);
    await slice(0, 10_000);
    await eventually(
      async () => assert.ok((await metric(pod, 'weir_processor_records_total{topic="input"}')) >= 3_000),
      30_000,
      20,
    );
    process.kill(pidOf(pod), 'SIGKILL');
    await slice(10_000, 20_000);
    await restartComponent('kafka');
    await slice(20_000, 30_000);
    const records = await readCommitted(
      kafka,
      `weir.${NS}.counts.output`,
      (r) => latest(r).size >= expected.size,
      120_000,
    );
    const results = latest(records);
    assert.equal(results.size, expected.size);
    for (const [key, want] of expected) assert.deepEqual(results.get(`per_user/${key}`)?.measures, want, key);
    assert.equal(records.length, expected.size, 'one result per window: none lost, none doubled');
    const restarted = await readyProcessor('counts');
    assert.equal(restarted.metadata?.uid, pod.metadata?.uid, 'the same pod, its container restarted');
    assert.ok((restarted.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1);
  });

  it('sends a poison event to the dead-letter topic after its retries without holding up the rest, and a re-drive after the fix counts it', async () => {
    const c = await credentials(NS);
    const db = tenantPostgres(c);
    await db.connect();
    await db.query('CREATE TABLE IF NOT EXISTS accounts (id integer PRIMARY KEY, credit integer NOT NULL)');
    await db.query('INSERT INTO accounts SELECT i, i * 10 FROM generate_series(1, 5) i ON CONFLICT DO NOTHING');
    const spec = {
      source: { partitions: 2, partitionKey: '/user', retention: '1h' },
      enrich: [{ name: 'account', key: '/account', into: 'account', postgres: { table: 'accounts', keyColumn: 'id' } }],
      aggregate: [
        {
          name: 'per_user',
          window: { type: 'Tumbling', size: '1h' },
          eventTime: { field: '/ts', idleTimeout: '1h' },
          groupBy: ['/user'],
          measures: [
            { name: 'n', type: 'Count' },
            { name: 'credit', type: 'Sum', field: '/account/credit' },
          ],
        },
      ],
      sinks: { redis: { ttl: '1h' } },
      failure: { maxRetries: 2, backoff: { initial: '200ms', max: '1s', multiplier: 2 } },
      scaling: { minReplicas: 1, maxReplicas: 1 },
    };
    await eventually(() => applyWeirObject(clients.custom, pipeline('lookups', spec) as never), 30_000);
    await readyProcessor('lookups');
    const now = Date.now();
    const poison = [0, 1].map((i) => ({ user: 'ann', account: 'x-1', ts: now + i }));
    const good = Array.from({ length: 40 }, (_, i) => ({
      user: i % 2 ? 'ann' : 'ben',
      account: (i % 5) + 1,
      ts: now + 10 + i,
    }));
    await produce(kafka, `weir.${NS}.lookups.input`, [...poison, ...good], (e: { user: string }) => e.user);
    const key = (user: string) => currentResultKey(TENANT, 'lookups', 'per_user', `["${user}"]`);
    const count = async (user: string) => Number((await redis.hget(key(user), 'm:n')) ?? 0);
    await eventually(async () => assert.equal((await count('ann')) + (await count('ben')), 40), 30_000, 100);
    const dead = await readCommitted(kafka, `weir.${NS}.lookups.dlq`, (r) => r.length >= 2);
    assert.deepEqual(
      dead.map((m) => [header(m, 'weir-dlq-reason'), header(m, 'weir-attempts')]),
      [
        ['RetriesExhausted', '3'],
        ['RetriesExhausted', '3'],
      ],
    );
    assert.match(header(dead[0]!, 'weir-dlq-message')!, /invalid input syntax for type integer: "x-1"/);

    await db.query('ALTER TABLE accounts ALTER COLUMN id TYPE text USING id::text');
    await db.query("INSERT INTO accounts VALUES ('x-1', 500)");
    await db.end();
    // The re-drive command, given the configuration the operator compiled for the processor.
    const cm = await clients.core.readNamespacedConfigMap({ namespace: NS, name: 'lookups-processor' });
    const config = join(mkdtempSync(join(tmpdir(), 'weir-redrive-')), 'pipeline.json');
    writeFileSync(config, cm.data!['pipeline.json']!);
    // It connects to Kafka as the tenant, with the user and password of the tenant's Secret.
    const secret = await clients.core.readNamespacedSecret({ namespace: NS, name: 'weir-credentials' });
    const fromSecret = (key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
    const result = spawnSync(process.execPath, ['dataplane/processor/redrive.ts', '--config', config], {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        WEIR_KAFKA_USERNAME: fromSecret('kafka-username'),
        WEIR_KAFKA_PASSWORD: fromSecret('kafka-password'),
      },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { redriven: 2, passedOver: {}, dryRun: false });
    await eventually(async () => assert.equal(await count('ann'), 22), 30_000, 100);
    const annCredit = good.filter((e) => e.user === 'ann').reduce((s, e) => s + e.account * 10, 0) + 2 * 500;
    assert.equal(Number(await redis.hget(key('ann'), 'm:credit')), annCredit);
  });

  it("runs with credentials that cannot reach another tenant's Redis keys, channels or Postgres schema, and writes only under its own prefix", async () => {
    const mine = await credentials(NS);
    const theirs = await credentials(`tenant-${RIVAL}`);
    assert.notEqual(mine['redis-username'], theirs['redis-username']);
    // Something of the rival's to try to reach.
    const rivalRedis = tenantRedis(theirs);
    await rivalRedis.hset(currentResultKey(RIVAL, 'secret', 'agg', '[]'), 'm:n', '42');
    const rivalDb = tenantPostgres(theirs);
    await rivalDb.connect();
    await rivalDb.query('CREATE TABLE IF NOT EXISTS private_results (v integer)');
    await rivalDb.end();
    await rivalRedis.quit();

    const r = tenantRedis(mine);
    const denied = (p: Promise<unknown>) => assert.rejects(p, /NOPERM/);
    await denied(r.hgetall(currentResultKey(RIVAL, 'secret', 'agg', '[]')));
    await denied(r.hset(currentResultKey(RIVAL, 'secret', 'agg', '[]'), 'm:n', '0'));
    await denied(r.publish(`tenant:${RIVAL}:updates:secret:agg`, 'x'));
    await denied(r.keys('*'));
    await denied(r.scan('0'));
    await denied(r.eval(`return redis.call('GET', KEYS[1])`, 1, `tenant:${RIVAL}:anything`));
    assert.equal(await r.hget(currentResultKey(TENANT, 'windows', 'tumbling', '["u1"]'), 'aggregation'), 'tumbling');
    await r.quit();

    const db = tenantPostgres(mine);
    await db.connect();
    await assert.rejects(
      db.query(`SELECT * FROM ${theirs['postgres-schema']}.private_results`),
      /permission denied for schema/,
    );
    await assert.rejects(
      db.query(`CREATE TABLE ${theirs['postgres-schema']}.planted (v integer)`),
      /permission denied for schema/,
    );
    await db.end();

    // Every key the processors of this tenant wrote is under the tenant's prefix.
    const written = (
      await Promise.all(
        ['windows', 'counts', 'lookups'].flatMap((p) =>
          [`*:results:${p}:*`, `*:groups:${p}:*`].map((k) => redis.keys(k)),
        ),
      )
    ).flat();
    assert.ok(written.length > 0);
    for (const k of written) assert.ok(k.startsWith(`tenant:${TENANT}:`), `${k} is outside the tenant's prefix`);
  });
});
