/**
 * Benchmark: the two Kafka clients behind Weir's EventProducer, as the gateway drives them
 * — many concurrent callers, each waiting for Kafka's acknowledgement (idempotent, acks=all)
 * of one 1 KB record before sending the next — printed side by side in one run on one
 * broker, so the gateway's client is chosen by figures. Run it with
 * `npm run bench:gateway-kafka` (inside the local environment).
 *
 *   node bench/gateway-kafka-clients.ts [--seconds 10] [--concurrency 256] [--rounds 2]
 *
 * Each round runs both clients, the order alternating, on a fresh 6-partition topic each.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { build } from 'hdr-histogram-js';
import kafkajs from 'kafkajs';
import { systemClock } from '../lib/clock/clock.ts';
import { silentLogger } from '../lib/observability/logger.ts';
import { EventProducer, type RecordSender } from '../lib/kafka/producer.ts';
import { KafkajsRecordSender } from '../lib/kafka/producer-kafkajs.ts';
import { PlatformaticRecordSender } from '../lib/kafka/producer-platformatic.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '2' },
  },
});
const SECONDS = Number(values.seconds);
const C = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const brokers = process.env.WEIR_KAFKA_BROKERS!.split(',');
const run = Date.now().toString(36);
const admin = new kafkajs.Kafka({ clientId: 'weir-bench', brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
const value = Buffer.from(JSON.stringify({ payload: randomBytes(480).toString('hex') }).slice(0, 1024));
const log = silentLogger();

const clients: Record<string, (clientId: string) => RecordSender> = {
  kafkajs: (clientId) => new KafkajsRecordSender({ brokers, clientId, log }),
  platformatic: (clientId) => new PlatformaticRecordSender({ brokers, clientId, log }),
};

interface Result {
  records: number;
  seconds: number;
  batches: number;
  p50: number;
  p99: number;
  cpuMs: number;
}

async function measure(name: string, round: number): Promise<Result> {
  const topic = `weir.bench-${run}.${name}-${round}.input`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });
  let batches = 0;
  const producer = new EventProducer({
    sender: clients[name]!(`weir-bench-${name}`),
    clock: systemClock,
    log,
    onBatch: () => batches++,
  });
  await producer.connect();
  // Warm-up: connections, metadata, JIT.
  for (let i = 0; i < 200; i++) await producer.send([{ topic, key: Buffer.from(`k${i}`), value, headers: {} }]);
  batches = 0;
  const histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let records = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: C }, async (_, caller) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        await producer.send([
          { topic, key: Buffer.from(`device-${caller}-${i % 8}`), value, headers: { 'weir-tenant': 'bench' } },
        ]);
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        records++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await producer.close();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  return {
    records,
    seconds,
    batches,
    p50: histogram.getValueAtPercentile(50) / 1000,
    p99: histogram.getValueAtPercentile(99) / 1000,
    cpuMs: (used.user + used.system) / 1000,
  };
}

await admin.connect();
const totals: Record<string, Result[]> = { kafkajs: [], platformatic: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? ['kafkajs', 'platformatic'] : ['platformatic', 'kafkajs'];
  for (const name of order) totals[name]!.push(await measure(name, round));
}
await admin.disconnect();

const row = (name: string) => {
  const rs = totals[name]!;
  const records = rs.reduce((s, r) => s + r.records, 0);
  const seconds = rs.reduce((s, r) => s + r.seconds, 0);
  const batches = rs.reduce((s, r) => s + r.batches, 0);
  const cpu = rs.reduce((s, r) => s + r.cpuMs, 0);
  return {
    rate: records / seconds,
    line: `${name.padEnd(13)} ${(records / seconds).toFixed(0).padStart(8)} rec/s  ${(records / batches).toFixed(1).padStart(6)} rec/batch  p50 ${Math.max(...rs.map((r) => r.p50)).toFixed(2)} ms  p99 ${Math.max(...rs.map((r) => r.p99)).toFixed(2)} ms  CPU ${((cpu / 1000 / seconds) * 100).toFixed(0)}% of a core  (${(cpu / records).toFixed(3)} ms/rec)`,
  };
};
console.log(
  `Kafka clients behind EventProducer: ${C} callers, 1 KB records, acks=all, idempotent, ${SECONDS} s x ${ROUNDS} rounds`,
);
const k = row('kafkajs');
const p = row('platformatic');
console.log(k.line);
console.log(p.line);
console.log(`ratio @platformatic/kafka / kafkajs: ${(p.rate / k.rate).toFixed(2)}`);
