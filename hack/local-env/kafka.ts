/**
 * A single-node Kafka in KRaft mode (broker and controller in one JVM) on loopback,
 * run from the jars collected from Maven Central.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { ProcessComponent } from './process-component.ts';
import { ManagedProcess, waitUntil } from './managed-process.ts';
import { freePort } from './ports.ts';

const LOG4J2 = `status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
logger.kafka.name = kafka
logger.kafka.level = info
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
`;

/**
 * Whether the broker serves what clients need: it answers a metadata request, and every
 * partition of every topic has a leader. A broker that restarted listens before it has
 * caught up with the metadata log and elected its partitions' leaders; until then clients
 * get UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER for topics that exist.
 */
async function servesEveryPartition(brokers: string): Promise<boolean> {
  const admin = new kafkajs.Kafka({
    brokers: [brokers],
    clientId: 'weir-local-env',
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1_000,
    requestTimeout: 3_000,
  }).admin();
  try {
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata();
    return topics.every((t) => t.partitions.every((p) => p.partitionErrorCode === 0 && p.leader >= 0));
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Resolves true once something accepts TCP connections on the port. */
function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class Kafka extends ProcessComponent {
  readonly name = 'kafka';
  readonly dependsOn = [];
  readonly build = ['kafka'] as const;
  #jvmEnv: NodeJS.ProcessEnv = {};

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  async prepare(): Promise<void> {
    this.port = await freePort();
    const controllerPort = await freePort();
    const dir = join(this.ctx.dir, 'kafka');
    const logDir = join(dir, 'data');
    mkdirSync(logDir, { recursive: true });
    const config = join(dir, 'server.properties');
    writeFileSync(
      config,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
        `listeners=PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${this.port}`,
        'controller.listener.names=CONTROLLER',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        'inter.broker.listener.name=PLAINTEXT',
        `log.dirs=${logDir}`,
        'num.partitions=1',
        'offsets.topic.replication.factor=1',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'share.coordinator.state.topic.replication.factor=1',
        'share.coordinator.state.topic.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
        'log.flush.interval.messages=9223372036854775807',
        '',
      ].join('\n'),
    );
    const log4j = join(dir, 'log4j2.properties');
    writeFileSync(log4j, LOG4J2);
    this.#jvmEnv = { ...process.env, CLASSPATH: join(this.ctx.tools.kafkaLibs, '*') };
    const jvmArgs = [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${log4j}`,
    ];
    // An id starting with '-' would be read as an option by the storage tool.
    const clusterId = 'W' + randomBytes(16).toString('base64url').slice(1);
    const format = spawnSync(
      this.ctx.tools.java,
      [
        ...jvmArgs,
        'kafka.tools.StorageTool',
        'format',
        '--cluster-id',
        clusterId,
        '--config',
        config,
        '--ignore-formatted',
      ],
      {
        env: this.#jvmEnv,
        encoding: 'utf8',
      },
    );
    if (format.status !== 0) throw new Error(`formatting Kafka storage failed:\n${format.stdout}${format.stderr}`);
    this.proc = new ManagedProcess({
      name: this.name,
      command: this.ctx.tools.java,
      args: [...jvmArgs, 'kafka.Kafka', config],
      env: this.#jvmEnv,
      stopGraceMs: 20_000,
      logFile: join(this.ctx.dir, 'kafka.log'),
      pidFile: this.ctx.pidFile,
    });
  }

  async start(): Promise<void> {
    const proc = this.proc!;
    proc.start();
    await waitUntil(proc, 'listening', () => acceptsConnections(this.port), 90_000);
    await waitUntil(proc, 'serving every partition', () => servesEveryPartition(this.brokers), 60_000);
  }

  env(): Record<string, string> {
    return { WEIR_KAFKA_BROKERS: this.brokers };
  }
}
