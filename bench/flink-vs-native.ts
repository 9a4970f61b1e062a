/**
 * Benchmark: engine Flink against the built-in engine on the same input topic, same broker,
 * same machine, in one run: a tumbling count by key (Nexmark q12-like: bids counted per
 * bidder per 10 s window) and a sliding sum (price per bidder over 10 s, every 2 s). Each
 * engine reads every event from the start of the topic and its result is checked; the figure
 * is events per second per core: events / CPU seconds of the engine's process (the Flink
 * TaskManager; the processor). A plain kafkajs consumer that reads and parses the same events
 * runs too, as the floor every engine pays. Run with `npm run bench:flink` (one TaskManager
 * slot, inside the local environment with Kafka and Flink).
 *
 *   node bench/flink-vs-native.ts [--events 500000] [--keys 1000]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { PipelineSpec } from '../crds/pipeline.ts';
import { JobManagerClient } from '../lib/flink/job-manager-client.ts';
import { SqlGatewayClient } from '../lib/flink/sql-gateway-client.ts';
import { translatePipeline } from '../operator/flink/flink-sql.ts';
import { submitJob } from '../operator/flink/job-submitter.ts';
import { cpuByProgram } from './cpu-by-program.ts';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '500000' }, keys: { type: 'string', default: '1000' } },
});
const EVENTS = Number(values.events);
const KEYS = Number(values.keys);
const run = Date.now().toString(36);
const kafka = new kafkajs.Kafka({
  clientId: 'weir-bench',
  brokers: process.env.WEIR_KAFKA_BROKERS!.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});
const envDir = process.env.WEIR_LOCAL_ENV_DIR!;
const TASK_MANAGER = 'org.apache.flink.runtime.taskexecutor.TaskManagerRunner';

interface Workload {
  name: string;
  window: Record<string, string>;
  measures: Record<string, string>[];
  /** The results a correct engine writes: one per window and bidder. */
  expectedResults: number;
}

/** Event i: bidder i mod KEYS, price 1..100, event time i ms (a window of 10 s holds 10,000 events). */
function event(i: number): string {
  return `{"bidder":"b${i % KEYS}","price":${(i % 100) + 1},"ts":${i}}`;
}

function windowsOf(sizeMs: number, slideMs: number): number {
  const seen = new Set<string>();
  for (let i = 0; i < EVENTS; i++) {
    const last = Math.floor(i / slideMs) * slideMs;
    for (let start = last; start > i - sizeMs; start -= slideMs) seen.add(`${start}/${i % KEYS}`);
  }
  return seen.size;
}

const WORKLOADS: Workload[] = [
  {
    name: 'tumbling-count',
    window: { type: 'Tumbling', size: '10s' },
    measures: [{ name: 'bids', type: 'Count' }],
    expectedResults: windowsOf(10_000, 10_000),
  },
  {
    name: 'sliding-sum',
    window: { type: 'Sliding', size: '10s', slide: '2s' },
    measures: [{ name: 'volume', type: 'Sum', field: '/price' }],
    expectedResults: windowsOf(10_000, 2_000),
  },
];

async function fillTopic(topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const batch = 5000;
  for (let i = 0; i < EVENTS; i += batch) {
    const messages = [];
    for (let j = i; j < Math.min(EVENTS, i + batch); j++) messages.push({ value: event(j) });
    await producer.send({ topic, acks: -1, messages });
  }
  // One event an hour later closes every window.
  await producer.send({
    topic,
    acks: -1,
    messages: [{ value: `{"bidder":"end","price":1,"ts":${EVENTS + 3_600_000}}` }],
  });
  await producer.disconnect();
}

/** Counts the records of a topic (read_committed) until there are `expected`; resolves when they are there. */
async function awaitRecords(topic: string, expected: number, timeoutMs = 900_000): Promise<void> {
  const consumer = kafka.consumer({ groupId: `weir-bench-${run}-${topic}`, readUncommitted: false });
  let seen = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachBatch: async ({ batch }) => void (seen += batch.messages.length) });
  const deadline = Date.now() + timeoutMs;
  while (seen < expected) {
    if (Date.now() > deadline) throw new Error(`${topic}: ${seen} of ${expected} results after ${timeoutMs / 1000} s`);
    await sleep(100);
  }
  await consumer.disconnect();
  if (seen !== expected) throw new Error(`${topic}: ${seen} results, expected ${expected}`);
}

interface Figure {
  engine: string;
  workload: string;
  seconds: number;
  cpuSeconds: number;
}

async function flink(workload: Workload, input: string): Promise<Figure> {
  const name = `w${run}${workload.name.replace('-', '')}`.slice(0, 40);
  const topics = { input, output: `weir.bench.${name}.output`, deadLetter: `weir.bench.${name}.dlq` };
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [topics.output, topics.deadLetter].map((topic) => ({ topic, numPartitions: 1 })),
    waitForLeaders: true,
  });
  await admin.disconnect();
  const translation = translatePipeline({
    namespace: 'bench',
    name,
    spec: PipelineSpec.parse({
      engine: 'Flink',
      aggregate: [
        {
          name: 'q',
          window: workload.window,
          eventTime: { field: '/ts', maxOutOfOrderness: '0s' },
          groupBy: ['/bidder'],
          measures: workload.measures,
        },
      ],
    }),
    topics,
    bootstrapServers: process.env.WEIR_KAFKA_BROKERS!.split(','),
    checkpointIntervalMs: 1000,
  });
  if (!translation.ok) throw new Error(translation.message);
  const gateway = new SqlGatewayClient({ url: process.env.WEIR_FLINK_SQL_GATEWAY_URL! });
  const jobManager = new JobManagerClient({ url: process.env.WEIR_FLINK_JOBMANAGER_URL! });
  const cpu0 = cpuByProgram(envDir).get(TASK_MANAGER) ?? 0;
  const t0 = performance.now();
  const jobId = await submitJob(gateway, translation.job);
  try {
    // The last window closes with the event an hour later; results are visible once a checkpoint commits them.
    await awaitRecords(topics.output, workload.expectedResults + 0);
  } finally {
    await jobManager.cancel(jobId);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    engine: 'flink',
    workload: workload.name,
    seconds,
    cpuSeconds: (cpuByProgram(envDir).get(TASK_MANAGER) ?? 0) - cpu0,
  };
}

/** The floor: a plain kafkajs consumer reading and parsing every event, no windows. */
async function rawConsume(input: string): Promise<Figure> {
  const consumer = kafka.consumer({ groupId: `weir-bench-${run}-raw`, readUncommitted: false });
  let seen = 0;
  let checksum = 0;
  await consumer.connect();
  await consumer.subscribe({ topic: input, fromBeginning: true });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) checksum += (JSON.parse(m.value!.toString()) as { price: number }).price;
      seen += batch.messages.length;
    },
  });
  while (seen < EVENTS + 1) await sleep(20);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await consumer.disconnect();
  if (checksum <= 0) throw new Error('read nothing');
  return { engine: 'kafkajs read+parse', workload: 'any', seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** The built-in engine, once dataplane/processor has its window engine. */
function nativeAvailable(): boolean {
  return existsSync(join(import.meta.dirname, '..', 'dataplane', 'processor', 'window-engine.ts'));
}

const perCore = (f: Figure) => (EVENTS + 1) / f.cpuSeconds;
const line = (f: Figure) =>
  `${f.engine.padEnd(20)} ${f.workload.padEnd(15)} ${f.seconds.toFixed(1).padStart(7)} s ${f.cpuSeconds.toFixed(1).padStart(7)} CPU s ${Math.round(
    (EVENTS + 1) / f.seconds,
  )
    .toLocaleString('en')
    .padStart(10)} events/s ${Math.round(perCore(f)).toLocaleString('en').padStart(10)} events/s/core`;

const input = `weir.bench.w${run}.input`;
process.stdout.write(`filling ${input} with ${EVENTS.toLocaleString('en')} events of ${KEYS} bidders\n`);
await fillTopic(input);
const raw = await rawConsume(input);
process.stdout.write(`${line(raw)}\n`);
for (const workload of WORKLOADS) {
  const f = await flink(workload, input);
  process.stdout.write(`${line(f)}   (${workload.expectedResults.toLocaleString('en')} windows, checked)\n`);
  process.stdout.write(`  flink / kafkajs read+parse, events/s/core: ${(perCore(f) / perCore(raw)).toFixed(3)}\n`);
  if (!nativeAvailable())
    process.stdout.write(
      `  native ${workload.name}: not run: dataplane/processor has no window engine on this branch; ratio native / flink pending\n`,
    );
}
