/**
 * For tests that run the real processor (`node dataplane/processor/main.ts`) against the
 * local environment's Kafka, Redis and Postgres: a pipeline's topics, a tenant's Redis user
 * and Postgres role made by the same stores the operator uses, the compiled configuration
 * file, and the processor as a child process with the environment its pod would have.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka, KafkaMessage } from 'kafkajs';
import kafkajs from '../../../lib/kafka/consumer-kafkajs-fixed.ts';
import { PipelineSpec, TopicRoles } from '../../../crds/pipeline.ts';
import { PostgresTenantStore } from '../../../lib/postgres/postgres-tenant-store.ts';
import { consumerGroup, topicName } from '../../../lib/platform/pipeline-names.ts';
import { serializeProcessorConfig, type ProcessorConfig } from '../../../lib/platform/processor-config.ts';
import { RedisTenantStore } from '../../../lib/redis/redis-tenant-store.ts';

const root = join(import.meta.dirname, '..', '..', '..');

export function envOf(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run under hack/local-env/cli.ts run --with kafka,redis,postgres`);
  return value;
}

/** A plain kafkajs client, not the processor's code, for producing input and checking output. */
export function checkClient(): Kafka {
  return new kafkajs.Kafka({
    brokers: [envOf('WEIR_KAFKA_BROKERS')],
    clientId: 'weir-test',
    logLevel: kafkajs.logLevel.NOTHING,
  });
}

/** A tenant with its Redis user and Postgres role, as the Tenant controller makes them. */
export interface TestTenant {
  name: string;
  env: Record<string, string>;
  schema: string;
}

export async function createTenant(name: string): Promise<TestTenant> {
  const redisPassword = randomUUID();
  const postgresPassword = randomUUID().replaceAll('-', '');
  const redis = new RedisTenantStore({ url: envOf('WEIR_REDIS_URL') });
  const postgres = new PostgresTenantStore({ connectionString: envOf('WEIR_POSTGRES_URL') });
  try {
    const user = await redis.ensureUser({ tenant: name, password: redisPassword });
    const pg = await postgres.ensureTenant({ tenant: name, password: postgresPassword });
    return {
      name,
      schema: pg.schema,
      env: {
        WEIR_REDIS_ENDPOINT: new URL(envOf('WEIR_REDIS_URL')).host,
        WEIR_REDIS_USERNAME: user.user,
        WEIR_REDIS_PASSWORD: redisPassword,
        WEIR_REDIS_KEY_PREFIX: user.keyPrefix,
        WEIR_POSTGRES_ENDPOINT: new URL(envOf('WEIR_POSTGRES_URL')).host,
        WEIR_POSTGRES_DATABASE: pg.database,
        WEIR_POSTGRES_USERNAME: pg.role,
        WEIR_POSTGRES_PASSWORD: postgresPassword,
        WEIR_POSTGRES_SCHEMA: pg.schema,
      },
    };
  } finally {
    await Promise.all([redis.close(), postgres.close()]);
  }
}

/** A pipeline's topics and configuration file, as the operator would make them. */
export interface TestPipeline {
  config: ProcessorConfig;
  configPath: string;
  topics: ProcessorConfig['topics'];
}

export async function createPipeline(
  tenant: TestTenant,
  name: string,
  spec: unknown,
  options: { piiFields?: string[] } = {},
): Promise<TestPipeline> {
  const namespace = `tenant-${tenant.name}`;
  const parsed = PipelineSpec.parse(spec);
  const roles = TopicRoles.filter((r) => r !== 'Output' || parsed.sinks.topic.enabled);
  const topics = Object.fromEntries(roles.map((r) => [r, topicName(namespace, name, r)])) as ProcessorConfig['topics'];
  const admin = checkClient().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: roles.map((r) => ({
        topic: topicName(namespace, name, r),
        numPartitions: parsed.source.partitions,
        configEntries: r === 'Changelog' ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
      })),
    });
  } finally {
    await admin.disconnect();
  }
  const text = serializeProcessorConfig({
    pipeline: { namespace, name },
    consumerGroup: consumerGroup(namespace, name),
    kafka: { bootstrapServers: [envOf('WEIR_KAFKA_BROKERS')] },
    topics,
    tenant: { name: tenant.name, piiFields: options.piiFields ?? [] },
    spec: parsed,
  });
  const configPath = join(mkdtempSync(join(tmpdir(), 'weir-processor-test-')), 'pipeline.json');
  writeFileSync(configPath, text);
  return { config: JSON.parse(text) as ProcessorConfig, configPath, topics };
}

/** A running processor. */
export class ProcessorProcess {
  readonly child: ChildProcess;
  readonly port: number;
  output = '';

  constructor(pipeline: TestPipeline, tenant: TestTenant, port: number, extraEnv: Record<string, string> = {}) {
    this.port = port;
    this.child = spawn(process.execPath, ['dataplane/processor/main.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        WEIR_PIPELINE_CONFIG: pipeline.configPath,
        WEIR_LISTEN_HOST: '127.0.0.1',
        WEIR_METRICS_PORT: String(port),
        HOSTNAME: `test-${port}`,
        ...tenant.env,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (b: Buffer) => (this.output += b.toString()));
    this.child.stderr!.on('data', (b: Buffer) => (this.output += b.toString()));
  }

  /** Resolves once /readyz answers 200. */
  async ready(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null)
        throw new Error(`the processor exited with ${this.child.exitCode}:\n${this.output}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.port}/readyz`)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`the processor was not ready within ${timeoutMs} ms:\n${this.output.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The value of a metric line, such as `weir_processor_transactions_total{result="committed"}`; 0 when absent. */
  async metric(line: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const found = text.split('\n').find((l) => l.startsWith(`${line} `));
    return found ? Number(found.slice(line.length + 1)) : 0;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    return exited;
  }
}

/** Produces JSON events to a topic, keyed by `key(event)` so that the default partitioner places them as the gateway would. */
export async function produce(
  kafka: Kafka,
  topic: string,
  events: unknown[],
  key: (e: never) => string | null = () => null,
): Promise<void> {
  // Idempotent, so that a retry after a broker restart does not write an event twice.
  const producer = kafka.producer({
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += 2_000)
      await producer.send({
        topic,
        acks: -1,
        messages: events
          .slice(i, i + 2_000)
          .map((e) => ({ key: key(e as never), value: typeof e === 'string' ? e : JSON.stringify(e) })),
      });
  } finally {
    await producer.disconnect();
  }
}

/** Every committed record of a topic so far, read by a plain consumer in read_committed mode, until `done(records)` holds or the time is up. */
export async function readCommitted(
  kafka: Kafka,
  topic: string,
  done: (records: KafkaMessage[]) => boolean,
  timeoutMs = 60_000,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `weir-test-check-${randomUUID()}`, readUncommitted: false });
  const records: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void records.push(message) });
  const deadline = Date.now() + timeoutMs;
  while (!done(records) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await consumer.disconnect();
  return records;
}
