/**
 * Benchmark: Weir's gateway against plain fastify. The baseline (bench/fastify-baseline.ts)
 * is what a team would write by hand: one fastify route that parses the JSON event and
 * writes it to Kafka with the producer the gateway uses (EventProducer over
 * @platformatic/kafka, idempotent, acks=all), answering 202 once Kafka acknowledged it.
 * Weir is the real gateway process (dataplane/gateway/main.ts, as e2e/gateway-process.ts
 * starts it) with everything a tenant gets: a token from an issuer the Tenant trusts, the
 * pipeline's JSON Schema, the tenant's quota and a RateLimitPolicy per token subject, both
 * too high to ever refuse, and topics the operator made. Both write to input topics of
 * the same layout (two Pipelines of one tenant, same partitions) on the same Kafka.
 * Run it with `npm run bench:gateway` (inside the local environment).
 *
 *   node bench/gateway-vs-fastify.ts [--seconds 10] [--warmup 3] [--concurrency 64] [--rounds 2]
 *                                    [--partitions 6] [--cpu-prof-dir DIR]
 *
 * One load generator for both: `concurrency` clients, each on its own keep-alive
 * connection, sending one JSON event of about 350 bytes per request and waiting for the answer,
 * for `seconds` after a warm-up; the order alternates between rounds. Only 202s count;
 * other answers are reported. With --cpu-prof-dir the gateway writes a V8 CPU profile
 * there when it stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Histogram } from 'hdr-histogram-js';
import kafkajs from 'kafkajs';
import { Pool } from 'undici';
import { applyWeirObject } from '../e2e/cluster.ts';
import { eventually } from '../e2e/eventually.ts';
import { gatewayPlatform, pipelineWithTopics, readyGateway, tenantWithIssuers } from '../e2e/gateway-fixture.ts';
import { env } from '../e2e/platform.ts';
import { TokenIssuer } from '../e2e/token-issuer.ts';
import { cpuByProgram } from './cpu-by-program.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    partitions: { type: 'string', default: '6' },
    'cpu-prof-dir': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const C = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const PARTITIONS = Number(values.partitions);
const TENANT = 'bench';
const NAMESPACE = `tenant-${TENANT}`;
const brokers = env('WEIR_KAFKA_BROKERS');
/** The period of the timer whose lateness is the event loop delay (prom-client's default); readings include it. */
const LOOP_TIMER_MS = 10;

/** One event of about 350 bytes (357 as sent); `device` is the partition key, eight devices per client. */
function event(client: number, seq: number): string {
  return JSON.stringify({
    device: `device-${client}-${seq % 8}`,
    seq,
    ts: new Date().toISOString(),
    kind: 'reading',
    firmware: '2.14.3',
    location: { site: 'berlin-tempelhof', building: 'hangar-4', floor: 2 },
    reading: { temperature: 21.5 + (seq % 10) / 10, humidity: 0.43, pressure: 1013.2, battery: 0.87 },
    tags: ['bench', 'gateway', 'sensor', 'indoor'],
    note: 'a reading as a device sends it every few seconds',
  });
}

const SCHEMA = {
  type: 'object',
  required: ['device', 'seq', 'ts', 'kind', 'reading'],
  properties: {
    device: { type: 'string', minLength: 1, maxLength: 128 },
    seq: { type: 'integer', minimum: 0 },
    ts: { type: 'string', format: 'date-time' },
    kind: { enum: ['reading', 'alarm'] },
    firmware: { type: 'string' },
    location: {
      type: 'object',
      properties: { site: { type: 'string' }, building: { type: 'string' }, floor: { type: 'integer' } },
    },
    reading: {
      type: 'object',
      required: ['temperature'],
      properties: {
        temperature: { type: 'number' },
        humidity: { type: 'number', minimum: 0, maximum: 1 },
        pressure: { type: 'number' },
        battery: { type: 'number', minimum: 0, maximum: 1 },
      },
    },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 16 },
    note: { type: 'string', maxLength: 1024 },
  },
};

/** Seconds of CPU (user + system) a process has used, from /proc. */
function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The sum over every series of a metric (`name` exactly, with or without labels). */
function total(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
  return sum;
}

interface Target {
  name: 'baseline' | 'weir';
  pool: Pool;
  path: string;
  headers: (client: number) => Record<string, string>;
  pid: number | undefined;
  /** What the server says about its Kafka batches: the number of batches, records and ms they took. */
  batches: () => Promise<{
    batches: number;
    records: number;
    produceMs: number;
    /** Event loop delay since the last reading. */
    loopMeanMs: number;
    loopP99Ms: number;
    extra?: Record<string, number>;
  }>;
}

interface Phase {
  ok: number;
  seconds: number;
  others: Map<string, number>;
  histogram: Histogram;
  cpu: Record<string, number>;
  batches: number;
  records: number;
  produceMs: number;
  loopMeanMs: number;
  loopP99Ms: number;
  extra: Record<string, number>;
}

const newHistogram = () =>
  build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
const firstRefusals = new Map<string, string>();
let answered202 = 0;

/** Runs the load against one target for `seconds`; latencies of 202s in µs. */
async function load(
  target: Target,
  seconds: number,
): Promise<Omit<Phase, 'cpu' | 'batches' | 'records' | 'produceMs' | 'loopMeanMs' | 'loopP99Ms' | 'extra'>> {
  const histogram = newHistogram();
  const others = new Map<string, number>();
  let ok = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: C }, async (_, client) => {
      const headers = { 'content-type': 'application/json', ...target.headers(client) };
      for (let seq = 0; performance.now() < until; seq++) {
        const t = performance.now();
        let outcome: string;
        try {
          const res = await target.pool.request({
            method: 'POST',
            path: target.path,
            headers,
            body: event(client, seq),
          });
          outcome = String(res.statusCode);
          if (res.statusCode === 202) await res.body.dump();
          else {
            const text = await res.body.text();
            if (!firstRefusals.has(`${target.name} ${outcome}`)) firstRefusals.set(`${target.name} ${outcome}`, text);
          }
        } catch (err) {
          outcome = (err as Error).name;
        }
        if (outcome === '202') {
          ok++;
          histogram.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        } else others.set(outcome, (others.get(outcome) ?? 0) + 1);
      }
    }),
  );
  answered202 += ok;
  return { ok, seconds: (performance.now() - started) / 1000, others, histogram };
}

/** A warm-up, then a measured phase with the CPU each process used and the server's Kafka batches. */
async function measure(target: Target): Promise<Phase> {
  await load(target, WARMUP);
  const cpuBefore = { server: cpuOf(target.pid), bench: cpuOf(process.pid), programs: cpuByProgram() };
  const batchesBefore = await target.batches();
  const result = await load(target, SECONDS);
  const batchesAfter = await target.batches();
  const programs = cpuByProgram();
  const cpu: Record<string, number> = {
    [target.name === 'weir' ? 'gateway' : 'baseline']: cpuOf(target.pid) - cpuBefore.server,
    'bench (load)': cpuOf(process.pid) - cpuBefore.bench,
  };
  for (const p of ['kafka.Kafka', 'redis-server', 'kube-apiserver'])
    cpu[p] = (programs.get(p) ?? 0) - (cpuBefore.programs.get(p) ?? 0);
  const extra: Record<string, number> = {};
  for (const [k, v] of Object.entries(batchesAfter.extra ?? {})) extra[k] = v - (batchesBefore.extra?.[k] ?? 0);
  return {
    ...result,
    cpu,
    batches: batchesAfter.batches - batchesBefore.batches,
    records: batchesAfter.records - batchesBefore.records,
    produceMs: batchesAfter.produceMs - batchesBefore.produceMs,
    loopMeanMs: batchesAfter.loopMeanMs,
    loopP99Ms: batchesAfter.loopP99Ms,
    extra,
  };
}

/** Starts bench/fastify-baseline.ts as a child process; resolves with it and its port. */
async function startBaseline(topic: string, nodeOptions: string | undefined) {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fastify-baseline.ts'), '--topic', topic],
    {
      env: { ...process.env, WEIR_KAFKA_BROKERS: brokers, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const parsed = JSON.parse(line) as { port?: number };
        if (parsed.port) resolve(parsed.port);
        else process.stderr.write(`[baseline] ${line}\n`);
      }
    });
    void exited.then((code) => reject(new Error(`the baseline exited with ${code} before listening`)));
  });
  return { child, port, exited };
}

const cpuProfDir = values['cpu-prof-dir'];
const nodeOptions = cpuProfDir ? `--cpu-prof --cpu-prof-dir=${cpuProfDir}` : undefined;

// The platform: operator, a Tenant trusting one issuer, two Pipelines with the operator's topics.
const platform = await gatewayPlatform('gateway-bench');
const issuer = await TokenIssuer.start('https://bench.weir.dev/');
await tenantWithIssuers(platform.clients, TENANT, [issuer], {
  eventsPerSecond: 10_000_000,
  bytesPerSecond: 1 << 30,
  partitions: 64,
});
const [weirTopic, baselineTopic] = await Promise.all([
  pipelineWithTopics(platform.clients, NAMESPACE, 'events', {
    source: { partitions: PARTITIONS, partitionKey: '/device', ingestion: { rest: true } },
    schema: { version: 1, jsonSchema: SCHEMA },
  }),
  pipelineWithTopics(platform.clients, NAMESPACE, 'baseline', {
    source: { partitions: PARTITIONS, partitionKey: '/device', ingestion: { rest: false } },
  }),
]);
await applyWeirObject(platform.clients.custom, {
  apiVersion: 'weir.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name: 'per-client', namespace: NAMESPACE },
  spec: {
    targetRef: { kind: 'Pipeline', name: 'events' },
    rules: [{ name: 'per_sub', key: { source: 'TokenClaim', name: 'sub' }, rate: 1_000_000_000, per: '1s' }],
  },
} as never);

const gateway = await readyGateway(platform, 'gw-bench', nodeOptions ? { NODE_OPTIONS: nodeOptions } : {});
await eventually(async () => {
  const p = (await platform.clients.custom.getNamespacedCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'ratelimitpolicies',
    namespace: NAMESPACE,
    name: 'per-client',
  })) as { status?: { appliedBy?: number } };
  if (p.status?.appliedBy !== 1) throw new Error(`RateLimitPolicy not applied yet: ${JSON.stringify(p.status)}`);
}, 60_000);
const baseline = await startBaseline(baselineTopic, undefined);

const tokens = await Promise.all(Array.from({ length: C }, (_, i) => issuer.token(TENANT, { sub: `client-${i}` })));
const targets: Target[] = [
  {
    name: 'baseline',
    pool: new Pool(`http://127.0.0.1:${baseline.port}`, { connections: C, pipelining: 1 }),
    path: '/events',
    headers: () => ({}),
    pid: baseline.child.pid,
    batches: async () => {
      return (await (await fetch(`http://127.0.0.1:${baseline.port}/stats`)).json()) as {
        batches: number;
        records: number;
        produceMs: number;
        loopMeanMs: number;
        loopP99Ms: number;
      };
    },
  },
  {
    name: 'weir',
    pool: new Pool(gateway.url, { connections: C, pipelining: 1 }),
    path: `/v1/pipelines/${NAMESPACE}/events/events`,
    headers: (client) => ({ authorization: `Bearer ${tokens[client]}` }),
    pid: gateway.pid,
    batches: async () => {
      const m = await gateway.metrics();
      return {
        batches: total(m, 'weir_gateway_kafka_batch_records_count'),
        records: total(m, 'weir_gateway_kafka_batch_records_sum'),
        produceMs: total(m, 'weir_gateway_kafka_produce_duration_seconds_sum') * 1000,
        loopMeanMs: total(m, 'nodejs_eventloop_lag_mean_seconds') * 1000,
        loopP99Ms: total(m, 'nodejs_eventloop_lag_p99_seconds') * 1000,
        extra: {
          requests: total(m, 'weir_gateway_request_duration_seconds_count'),
          requestMs: total(m, 'weir_gateway_request_duration_seconds_sum') * 1000,
          decisions: total(m, 'weir_gateway_ratelimit_decision_duration_seconds_count'),
          decisionMs: total(m, 'weir_gateway_ratelimit_decision_duration_seconds_sum') * 1000,
          limited: total(m, 'weir_gateway_events_limited_total'),
          invalid: total(m, 'weir_gateway_events_invalid_total'),
        },
      };
    },
  },
];

// The gateway may take a moment to see the pipeline and the policy after /readyz.
await eventually(async () => {
  const res = await targets[1]!.pool.request({
    method: 'POST',
    path: targets[1]!.path,
    headers: { 'content-type': 'application/json', ...targets[1]!.headers(0) },
    body: event(0, 0),
  });
  const text = await res.body.text();
  if (res.statusCode !== 202) throw new Error(`gateway answered ${res.statusCode}: ${text}`);
  answered202++;
}, 30_000);

const phases: Record<Target['name'], Phase[]> = { baseline: [], weir: [] };
const eventBytes = Buffer.byteLength(event(63, 12345));
console.log(
  `Weir gateway vs plain fastify: ${C} clients, one ${eventBytes}-byte JSON event per request, acks=all, ` +
    `${PARTITIONS} partitions, ${SECONDS} s x ${ROUNDS} rounds after ${WARMUP} s warm-ups`,
);
const fmtCpu = (cpu: Record<string, number>, seconds: number) =>
  Object.entries(cpu)
    .filter(([, s]) => (s / seconds) * 100 >= 0.5)
    .map(([p, s]) => `${p} ${((s / seconds) * 100).toFixed(0)}%`)
    .join(', ');
const others = (m: Map<string, number>) =>
  m.size === 0 ? 'none' : [...m].map(([code, n]) => `${n} x ${code}`).join(', ');
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? targets : [...targets].reverse();
  for (const target of order) {
    const p = await measure(target);
    phases[target.name].push(p);
    console.log(
      `round ${round + 1} ${target.name.padEnd(8)} ${(p.ok / p.seconds).toFixed(0).padStart(7)} events/s  ` +
        `p50 ${(p.histogram.getValueAtPercentile(50) / 1000).toFixed(2)} ms  p99 ${(p.histogram.getValueAtPercentile(99) / 1000).toFixed(2)} ms  ` +
        `non-202: ${others(p.others)}  ${(p.records / Math.max(1, p.batches)).toFixed(1)} records/batch  ` +
        `event loop delay mean ${(p.loopMeanMs - LOOP_TIMER_MS).toFixed(1)} ms p99 ${(p.loopP99Ms - LOOP_TIMER_MS).toFixed(1)} ms  ` +
        `CPU (of one core): ${fmtCpu(p.cpu, p.seconds)}`,
    );
  }
}

const summary = (name: Target['name']) => {
  const ps = phases[name];
  const histogram = newHistogram();
  for (const p of ps) histogram.add(p.histogram);
  const ok = ps.reduce((s, p) => s + p.ok, 0);
  const seconds = ps.reduce((s, p) => s + p.seconds, 0);
  const batches = ps.reduce((s, p) => s + p.batches, 0);
  const records = ps.reduce((s, p) => s + p.records, 0);
  const produceMs = ps.reduce((s, p) => s + p.produceMs, 0);
  const non202 = new Map<string, number>();
  for (const p of ps) for (const [k, v] of p.others) non202.set(k, (non202.get(k) ?? 0) + v);
  const cpu: Record<string, number> = {};
  for (const p of ps) for (const [k, v] of Object.entries(p.cpu)) cpu[k] = (cpu[k] ?? 0) + v;
  const extra: Record<string, number> = {};
  for (const p of ps) for (const [k, v] of Object.entries(p.extra)) extra[k] = (extra[k] ?? 0) + v;
  return { ok, seconds, rate: ok / seconds, histogram, batches, records, produceMs, non202, cpu, extra };
};
const b = summary('baseline');
const w = summary('weir');
console.log('');
for (const [name, s] of [
  ['baseline', b],
  ['weir', w],
] as const) {
  const serverCpu = s.cpu[name === 'weir' ? 'gateway' : 'baseline'] ?? NaN;
  console.log(
    `${name.padEnd(8)} ${s.rate.toFixed(0).padStart(7)} events/s  p50 ${(s.histogram.getValueAtPercentile(50) / 1000).toFixed(2)} ms  ` +
      `p99 ${(s.histogram.getValueAtPercentile(99) / 1000).toFixed(2)} ms  (${s.ok} x 202, non-202: ${others(s.non202)})  ` +
      `Kafka: ${(s.records / Math.max(1, s.batches)).toFixed(1)} records/batch, ${(s.produceMs / Math.max(1, s.batches)).toFixed(2)} ms/batch  ` +
      `server CPU ${((serverCpu * 1000) / s.ok).toFixed(3)} ms/event`,
  );
}
console.log(`ratio Weir / baseline (events/s): ${(w.rate / b.rate).toFixed(2)}`);
const e = w.extra;
console.log(
  `gateway, from its metrics: ${((e.requestMs ?? 0) / Math.max(1, e.requests ?? 0)).toFixed(2)} ms mean request, ` +
    `${((e.decisionMs ?? 0) / Math.max(1, e.decisions ?? 0)).toFixed(3)} ms mean rate-limit decision (${e.decisions ?? 0} decisions), ` +
    `${(w.produceMs / Math.max(1, w.batches)).toFixed(2)} ms mean Kafka batch; ${e.limited ?? 0} events limited, ${e.invalid ?? 0} invalid`,
);
for (const [key, text] of firstRefusals) console.log(`first ${key} answer: ${text.slice(0, 300)}`);

// Every 202 is a record in a topic: the topics' end offsets against the 202s answered.
const admin = new kafkajs.Kafka({
  clientId: 'weir-bench',
  brokers: brokers.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
}).admin();
await admin.connect();
let inTopics = 0;
for (const topic of [weirTopic, baselineTopic])
  for (const o of await admin.fetchTopicOffsets(topic)) inTopics += Number(o.high) - Number(o.low);
await admin.disconnect();
console.log(`records in the two topics: ${inTopics}; 202s answered (warm-ups included): ${answered202}`);

await Promise.all(targets.map((t) => t.pool.close()));
baseline.child.kill('SIGTERM');
await Promise.all([gateway.stop(), baseline.exited]);
await platform.operator.kill();
await issuer.close();
if (cpuProfDir) console.log(`gateway CPU profile written to ${cpuProfDir}`);
process.exit(0);
