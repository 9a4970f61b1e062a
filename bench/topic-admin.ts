/**
 * Benchmark: the two TopicAdmin implementations creating a pipeline's topics the way the
 * Pipeline controller does (describe the pipeline's 4 topics, create the missing ones in one
 * request, describe again), many pipelines at once, against a raw baseline of plain kafkajs
 * createTopics calls, one per pipeline, at the same concurrency; all against one broker in
 * one run, with every phase's topics deleted before the next. Run it with
 * `npm run bench:topic-admin` (inside the local environment).
 *
 *   node bench/topic-admin.ts [--topics 2000] [--concurrency 16] [--rounds 1]
 *
 * With more rounds each implementation runs once per round, each round starting with another
 * one, and the rates are over all rounds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { PipelineSpec } from '../crds/pipeline.ts';
import { KafkajsTopicAdmin } from '../lib/kafka/kafkajs-topic-admin.ts';
import { PlatformaticTopicAdmin } from '../lib/kafka/platformatic-topic-admin.ts';
import { planTopicChanges, type TopicAdmin, type TopicSpec } from '../lib/kafka/topic-admin.ts';
import { desiredTopics } from '../operator/pipeline/desired-topics.ts';
import { ItemExponentialFailureRateLimiter } from '../lib/controller/rate-limiter.ts';
import { pool } from './pool.ts';

const { values } = parseArgs({
  options: {
    topics: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '1' },
  },
});
const PIPELINES = Math.ceil(Number(values.topics) / 4);
const N = 4 * PIPELINES;
const C = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const WARM_UP = Math.min(C * 2, PIPELINES);
const run = Date.now().toString(36);
const brokers = process.env.WEIR_KAFKA_BROKERS!.split(',');
const kafka = new kafkajs.Kafka({ clientId: 'weir-bench', brokers, logLevel: kafkajs.logLevel.NOTHING });
const spec = PipelineSpec.parse({ source: { partitions: 3, replicationFactor: 1, retention: '24h' } });

/** The 4 topics of pipeline `i` of a phase: `weir.bench-<run>-<phase>.p<i>.<role>`. */
const topicsOf = (phase: string, i: number): TopicSpec[] => [
  ...desiredTopics(`bench-${run}-${phase}`, `p${i}`, spec).values(),
];

/** Failed attempts per phase, by error message: retried as the controller's work queue retries a key. */
const failures = new Map<string, Map<string, number>>();

/** Runs `task` until it succeeds, waiting between attempts as the controller's own rate limiter has a key wait (5 ms, 10 ms, 20 ms, ...); gives up after 12 attempts (a wait of 10 s before the last). */
async function retried(phase: string, task: () => Promise<unknown>): Promise<void> {
  const backoff = new ItemExponentialFailureRateLimiter();
  for (let attempt = 0; ; attempt++) {
    try {
      await task();
      return;
    } catch (err) {
      const byMessage = failures.get(phase) ?? new Map<string, number>();
      failures.set(phase, byMessage);
      // The adapters' messages start with the whole request; the reason is at the end.
      const { name, code, message: text } = err as Error & { code?: unknown };
      const message = `${name}${code === undefined ? '' : ` ${code}`}: …${text.replace(/weir\.bench-\S+/g, '<topic>').slice(-100)}`;
      byMessage.set(message, (byMessage.get(message) ?? 0) + 1);
      if (attempt === 11) throw err;
      await sleep(backoff.when(phase));
    }
  }
}

/** What the Pipeline controller does for one pipeline's topics (operator/pipeline/reconciler.ts). */
async function reconcile(admin: TopicAdmin, topics: TopicSpec[]): Promise<void> {
  const names = topics.map((t) => t.name);
  const current = await admin.describe(names);
  const toCreate = topics.filter((t) => planTopicChanges(t, current.get(t.name)).action === 'create');
  if (toCreate.length) await admin.create(toCreate);
  const described = await admin.describe(names);
  if (described.size !== topics.length)
    throw new Error(`described ${described.size} of the ${topics.length} topics of ${names[0]} after creating them`);
}

/**
 * The raw baseline: one createTopics call per pipeline through a plain kafkajs admin client,
 * not waiting for leaders. kafkajs's wait fails with UNKNOWN_TOPIC_OR_PARTITION while the
 * broker's metadata lags the controller, which it does here by seconds, so the baseline is the
 * rate at which the broker creates topics; the adapters also wait until it shows them.
 */
async function rawPhase(phase: string, pipelines: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await pool(pipelines, C, (i) =>
      retried(phase, () =>
        admin.createTopics({
          waitForLeaders: false,
          topics: topicsOf(phase, i).map((t) => ({
            topic: t.name,
            numPartitions: t.partitions,
            replicationFactor: t.replicationFactor,
            configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
          })),
        }),
      ),
    );
  } finally {
    await admin.disconnect();
  }
}

async function adapterPhase(connect: () => TopicAdmin, phase: string, pipelines: number): Promise<void> {
  const admin = connect();
  try {
    await pool(pipelines, C, (i) => retried(phase, () => reconcile(admin, topicsOf(phase, i))));
  } finally {
    await admin.close();
  }
}

/** Deletes the phase's topics and waits until the broker no longer lists them, so that the next phase starts from the same cluster. */
async function cleanUp(phase: string, expected: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const prefix = `weir.bench-${run}-${phase}.`;
    const listed = async () => (await admin.listTopics()).filter((name) => name.startsWith(prefix));
    // The broker answers metadata from a cache that can lag the controller by seconds under this load.
    let mine = await listed();
    for (
      const deadline = performance.now() + 60_000;
      mine.length !== expected && performance.now() < deadline;
      mine = await listed()
    )
      await sleep(250);
    if (mine.length !== expected) throw new Error(`phase ${phase} left ${mine.length} topics, not ${expected}`);
    for (let i = 0; i < mine.length; i += 200)
      await admin.deleteTopics({ topics: mine.slice(i, i + 200), timeout: 30_000 });
    while ((await listed()).length > 0) await sleep(250);
  } finally {
    await admin.disconnect();
  }
}

const phases: { name: string; label: string; run: (phase: string, pipelines: number) => Promise<void> }[] = [
  { name: 'raw', label: 'raw: kafkajs createTopics per pipeline', run: rawPhase },
  {
    name: 'kafkajs',
    label: 'KafkajsTopicAdmin: describe, create, describe',
    run: (phase, n) => adapterPhase(() => new KafkajsTopicAdmin({ brokers }), phase, n),
  },
  {
    name: 'platformatic',
    label: 'PlatformaticTopicAdmin: describe, create, describe',
    run: (phase, n) => adapterPhase(() => new PlatformaticTopicAdmin({ brokers }), phase, n),
  },
];

// A short unmeasured round first, so that no phase pays for the broker's and Node's warm-up.
for (const phase of phases) {
  await phase.run(`warm-${phase.name}`, WARM_UP);
  await cleanUp(`warm-${phase.name}`, 4 * WARM_UP);
}

// Each round starts with another phase: a phase's topics are deleted from disk about a minute
// after the deletion (file.delete.delay.ms), so a phase can pay for the one before it.
const seconds = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const phase of [...phases.slice(round % phases.length), ...phases.slice(0, round % phases.length)]) {
    const name = `${phase.name}-${round}`;
    const t0 = performance.now();
    await phase.run(name, PIPELINES);
    seconds.set(phase.name, (seconds.get(phase.name) ?? 0) + (performance.now() - t0) / 1000);
    await cleanUp(name, N);
  }
}

const rate = (name: string) => (ROUNDS * N) / seconds.get(name)!;
console.log(
  `\nTopics created the way the Pipeline controller does, against raw createTopics (${N} topics: ${PIPELINES} pipelines of 4, 3 partitions, replication factor 1, ${C} pipelines at once, ${ROUNDS} round(s))`,
);
for (const phase of phases)
  console.log(
    `  ${phase.label.padEnd(52)} ${seconds.get(phase.name)!.toFixed(2).padStart(8)} s  ${rate(phase.name).toFixed(1).padStart(7)} topics/s`,
  );
console.log(`  ratio KafkajsTopicAdmin / raw:      ${(rate('kafkajs') / rate('raw')).toFixed(3)}`);
console.log(`  ratio PlatformaticTopicAdmin / raw: ${(rate('platformatic') / rate('raw')).toFixed(3)}`);
console.log(
  `  ratio PlatformaticTopicAdmin / KafkajsTopicAdmin: ${(rate('platformatic') / rate('kafkajs')).toFixed(3)}`,
);
for (const [phase, byMessage] of failures) {
  for (const [message, count] of byMessage) console.log(`  ${phase}: ${count} failed attempt(s), retried: ${message}`);
}
process.exit(0);
