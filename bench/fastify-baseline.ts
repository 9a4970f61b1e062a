/**
 * The baseline of bench/gateway-vs-fastify.ts: what a team would write by hand to put
 * events into Kafka over HTTP. One fastify route that takes a JSON event (fastify parses
 * it), writes it, keyed by its `device`, to one topic with the producer Weir's gateway
 * uses (EventProducer over @platformatic/kafka: idempotent, acks=all) and answers 202 with
 * an id once Kafka acknowledged it. No auth, no limits, no validation, no idempotency.
 * The bench runs it as a child process, as the gateway is one:
 *
 *   WEIR_KAFKA_BROKERS=127.0.0.1:9092 node bench/fastify-baseline.ts --topic <topic>
 *
 * It prints one JSON line, {"port":N}, once it listens on 127.0.0.1; GET /stats answers
 * the batches and records it sent and its event loop's delay since the last /stats (as the
 * gateway's /metrics does, through prom-client), for the bench's report; SIGTERM closes it.
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { systemClock } from '../lib/clock/clock.ts';
import { EventProducer } from '../lib/kafka/producer.ts';
import { PlatformaticRecordSender } from '../lib/kafka/producer-platformatic.ts';
import { createLogger } from '../lib/observability/logger.ts';

const { values } = parseArgs({
  options: { topic: { type: 'string' }, port: { type: 'string', default: '0' } },
});
const topic = values.topic;
if (!topic) throw new Error('--topic is required');
const brokers = (process.env.WEIR_KAFKA_BROKERS ?? '').split(',').filter(Boolean);
if (brokers.length === 0) throw new Error('WEIR_KAFKA_BROKERS is not set');

const log = createLogger({ component: 'bench-fastify-baseline', level: 'warn' });
const stats = { batches: 0, records: 0, produceMs: 0, errors: 0 };
const producer = new EventProducer({
  sender: new PlatformaticRecordSender({ brokers, clientId: 'weir-bench-baseline', log }),
  clock: systemClock,
  log,
  onBatch: (records, _bytes, ms, outcome) => {
    stats.batches++;
    stats.records += records;
    stats.produceMs += ms;
    if (outcome === 'error') stats.errors++;
  },
});
await producer.connect();

const app = Fastify({ logger: false });
app.post('/events', async (request, reply) => {
  const event = request.body as { device?: unknown };
  const id = randomUUID();
  await producer.send([
    {
      topic,
      key: Buffer.from(String(event.device)),
      value: Buffer.from(JSON.stringify(event)),
      headers: { 'event-id': id, 'content-type': 'application/json' },
    },
  ]);
  return reply.code(202).send({ ids: [id] });
});
// As prom-client measures it for the gateway: a 10 ms timer's delay, reset at every reading.
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
app.get('/stats', async () => {
  const reading = { ...stats, loopMeanMs: loop.mean / 1e6, loopP99Ms: loop.percentile(99) / 1e6 };
  loop.reset();
  return reading;
});

await app.listen({ host: '127.0.0.1', port: Number(values.port) });
const address = app.server.address();
console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));

process.once('SIGTERM', () => {
  void (async () => {
    await app.close();
    await producer.close();
    process.exit(0);
  })();
});
