/**
 * Benchmark: the processor end to end on a tumbling count by key, against raw consumption of
 * the same topic with the same client in the same run, and exactly-once against the same
 * processor committing at least once. Run it with `npm run bench:processor`.
 *
 *   node bench/processor-throughput.ts [--events 1000000] [--partitions 6] [--keys 1000] [--rate 10000]
 *
 * Events carry event times `--rate` per second apart (10,000: a 10 s window of one of the
 * 1,000 keys counts 100 events, so one result goes out per 100 events read; at --rate 1000,
 * one per 10).
 *
 * One input topic is filled first. Then, one after the other, each reads all of it with a
 * consumer group of its own:
 * - raw: a kafkajs consumer group (the processor's client) that parses every record's JSON
 *   and does nothing else, since any consumer that looks at the events must parse them;
 * - Weir, at least once: `node dataplane/processor/main.ts` with WEIR_PROCESSOR_DELIVERY
 *   at-least-once — sends outputs and changelog, then commits offsets;
 * - Weir, exactly once: the same processor with its default, one Kafka transaction per batch
 *   carrying outputs, window state and offsets.
 * Each rate is counted from the first record read (raw) or committed (Weir) to the last,
 * so that joining the group and starting Node are left out of both sides alike. The Weir
 * runs keep results on the output topic only (no Redis or Postgres), so that the figures
 * compare Kafka paths. The CPU each program used in each phase is printed beside the rates.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import kafkajs from '../lib/kafka/consumer-kafkajs-fixed.ts';
import { PipelineSpec, TopicRoles } from '../crds/pipeline.ts';
import { consumerGroup, topicName } from '../lib/platform/pipeline-names.ts';
import { serializeProcessorConfig } from '../lib/platform/processor-config.ts';
import { freePort } from '../hack/local-env/ports.ts';
import { cpuByProgram } from './cpu-by-program.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '6' },
    keys: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '10000' },
  },
});
const EVENTS = Number(values.events);
const PARTITIONS = Number(values.partitions);
const KEYS = Number(values.keys);
const RATE = Number(values.rate);
const brokers = process.env.WEIR_KAFKA_BROKERS!.split(',');
const run = Date.now().toString(36);
const NS = `bench-${run}`;
const kafka = new kafkajs.Kafka({ brokers, clientId: 'weir-bench', logLevel: kafkajs.logLevel.NOTHING });
const admin = kafka.admin();
const root = join(import.meta.dirname, '..');
const INPUT = `weir.${NS}.input`;

interface Phase {
  seconds: number;
  /** CPU seconds of the consumer: this benchmark's own process (raw) or the processor. */
  consumerCpu: number;
}

/** CPU seconds of a process so far, from /proc. */
function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The phase, and the CPU the environment's servers used during it. */
async function measured(work: () => Promise<Phase>): Promise<Phase & { servers: Map<string, number> }> {
  const envDir = process.env.WEIR_LOCAL_ENV_DIR;
  const before = cpuByProgram(envDir);
  const phase = await work();
  const after = cpuByProgram(envDir);
  const servers = new Map([...after].filter(([k]) => k !== 'bench').map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
  return { ...phase, servers };
}

async function fill(): Promise<void> {
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: INPUT, numPartitions: PARTITIONS }] });
  const producer = kafka.producer({
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  const base = Date.parse('2026-06-01T00:00:00Z');
  const batch = 5_000;
  for (let i = 0; i < EVENTS; i += batch) {
    const messages = [];
    for (let j = i; j < Math.min(EVENTS, i + batch); j++) {
      const user = `user-${j % KEYS}`;
      const ts = base + Math.floor((j * 1000) / RATE);
      messages.push({ key: user, value: JSON.stringify({ user, ts, amount: j % 100, page: `/p/${j % 37}` }) });
    }
    await producer.send({ topic: INPUT, messages, acks: -1 });
  }
  await producer.disconnect();
}

/** Reads every record with a plain consumer group, parsing each; seconds from the first record to the last. */
async function raw(): Promise<Phase> {
  const cpuBefore = process.cpuUsage();
  const consumer = kafka.consumer({
    groupId: `bench-raw-${run}`,
    maxBytesPerPartition: 4 * 2 ** 20,
    maxBytes: 32 * 2 ** 20,
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: INPUT, fromBeginning: true });
  let seen = 0;
  let first = 0;
  let parsed = 0;
  const seconds = await new Promise<number>((resolve) => {
    void consumer.run({
      partitionsConsumedConcurrently: 8,
      eachBatch: async ({ batch }) => {
        first ||= performance.now();
        for (const m of batch.messages)
          parsed += (JSON.parse(m.value!.toString()) as { amount: number }).amount >= 0 ? 1 : 0;
        seen += batch.messages.length;
        if (seen >= EVENTS) resolve((performance.now() - first) / 1000);
      },
    });
  });
  const used = process.cpuUsage(cpuBefore);
  await consumer.disconnect();
  if (parsed !== EVENTS) throw new Error(`raw consumer parsed ${parsed} of ${EVENTS}`);
  return { seconds, consumerCpu: (used.user + used.system) / 1e6 };
}

/** The topics and configuration of a pipeline that reads the shared input topic. */
async function pipeline(name: string): Promise<{ configPath: string; group: string }> {
  const spec = PipelineSpec.parse({
    source: { partitions: PARTITIONS, partitionKey: '/user' },
    aggregate: [
      {
        name: 'views',
        window: { type: 'Tumbling', size: '10s' },
        eventTime: { field: '/ts', maxOutOfOrderness: '1s', idleTimeout: '5s' },
        groupBy: ['/user'],
        measures: [{ name: 'n', type: 'Count' }],
      },
    ],
  });
  const topics = Object.fromEntries(TopicRoles.map((r) => [r, r === 'Input' ? INPUT : topicName(NS, name, r)]));
  await admin.createTopics({
    waitForLeaders: true,
    topics: TopicRoles.filter((r) => r !== 'Input').map((r) => ({
      topic: topics[r]!,
      numPartitions: PARTITIONS,
      configEntries: r === 'Changelog' ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
    })),
  });
  const group = consumerGroup(NS, name);
  const configPath = join(mkdtempSync(join(tmpdir(), 'weir-bench-')), 'pipeline.json');
  writeFileSync(
    configPath,
    serializeProcessorConfig({
      pipeline: { namespace: NS, name },
      consumerGroup: group,
      kafka: { bootstrapServers: brokers },
      topics: topics as never,
      tenant: { name: 'bench', piiFields: [] },
      spec,
    }),
  );
  return { configPath, group };
}

/** Runs the processor until the group has committed every input offset; seconds from the first commit to the last. */
async function weir(name: string, delivery: 'exactly-once' | 'at-least-once'): Promise<Phase> {
  const { configPath, group } = await pipeline(name);
  const child = spawn(process.execPath, ['dataplane/processor/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      WEIR_PIPELINE_CONFIG: configPath,
      WEIR_PROCESSOR_DELIVERY: delivery,
      WEIR_LISTEN_HOST: '127.0.0.1',
      WEIR_METRICS_PORT: String(await freePort()),
      WEIR_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let first = 0;
  try {
    for (;;) {
      const offsets = await admin.fetchOffsets({ groupId: group, topics: [INPUT] });
      const committed = offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      if (committed > 0) first ||= performance.now();
      if (committed >= EVENTS)
        return { seconds: (performance.now() - first) / 1000, consumerCpu: processCpu(child.pid!) };
      if (child.exitCode !== null) throw new Error(`the processor exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

function cpuLine(cpu: Map<string, number>): string {
  return [...cpu]
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([program, s]) => `${program} ${s.toFixed(1)} s`)
    .join(', ');
}

await admin.connect();
try {
  const filled = performance.now();
  await fill();
  console.log(
    `filled ${INPUT}: ${EVENTS} events, ${PARTITIONS} partitions, ${KEYS} keys, ${RATE} events/s of event time (${Math.ceil(EVENTS / RATE / 10) * KEYS} windows), in ${((performance.now() - filled) / 1000).toFixed(1)} s`,
  );
  const rawRun = await measured(raw);
  const alo = await measured(() => weir('alo', 'at-least-once'));
  const eos = await measured(() => weir('eos', 'exactly-once'));
  const rate = (p: Phase) => EVENTS / p.seconds;
  const row = (label: string, p: Phase & { servers: Map<string, number> }, who: string) =>
    console.log(
      `${label.padEnd(26)} ${p.seconds.toFixed(2).padStart(7)} s ${Math.round(rate(p)).toLocaleString('en').padStart(10)} events/s   CPU: ${who} ${p.consumerCpu.toFixed(1)} s (whole run), ${cpuLine(p.servers)}`,
    );
  row('raw kafkajs consumption', rawRun, 'consumer');
  row('Weir, at least once', alo, 'processor');
  row('Weir, exactly once', eos, 'processor');
  console.log(`exactly once / raw:           ${(rate(eos) / rate(rawRun)).toFixed(3)} (goal 0.7)`);
  console.log(`exactly once / at least once: ${(rate(eos) / rate(alo)).toFixed(3)} (goal 0.7)`);
  console.log(`at least once / raw:          ${(rate(alo) / rate(rawRun)).toFixed(3)}`);
} finally {
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`weir.${NS}.`));
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
}
