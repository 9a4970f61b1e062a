/**
 * {@link TopicAdmin} on kafkajs 2.2.4's admin client.
 *
 * What kafkajs cannot do, and how this works around it:
 * - Its Metadata requests stop at version 6, before topic ids (version 10): `topicId` stays
 *   undefined.
 * - It has only the legacy AlterConfigs request, which replaces all of a topic's configs
 *   (keys left out go back to their defaults), not IncrementalAlterConfigs. To set some keys
 *   and keep the others, alterConfig reads the topic's configs and sends the merged set; a
 *   change someone makes to another key between the read and the write is lost.
 * - It drops the broker's error messages and keeps only the error code, so errors here say
 *   what was asked for.
 * - One missing topic fails a whole Metadata or DescribeConfigs request, so describe falls
 *   back to one request per topic when that happens.
 * - A broker that accepts a connection but never answers can leave its client unable to send
 *   anything ("Broker not connected"), so after any connection failure the admin client is
 *   dropped and the next call connects a new one.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Admin, type ITopicMetadata, type LogEntry } from 'kafkajs';
import { pino, type Logger } from 'pino';
import {
  describeTopicSpec,
  joinTopicStates,
  kafkaRefused,
  kafkaUnavailable,
  listConfig,
  refusalOf,
  type TopicAdmin,
  type TopicSpec,
  type TopicState,
  untilSeen,
} from './topic-admin.ts';

// kafkajs is CommonJS and builds its exports in a way Node cannot see by name.
const { ConfigResourceTypes, ConfigSource, Kafka, logLevel } = kafkajs;

/** Options for {@link KafkajsTopicAdmin}. */
export interface KafkajsTopicAdminOptions {
  /** Bootstrap servers, `host:port`. */
  brokers: string[];
  clientId?: string;
  log?: Logger;
  /** How long the client waits for the answer to one request; default 5000. */
  requestTimeoutMs?: number;
  /** How long opening a connection may take; default 3000. */
  connectionTimeoutMs?: number;
}

/**
 * kafkajs nests this retry loop inside itself (admin, cluster, broker pool): with its defaults
 * (5 retries, up to 30 s apart) a refused connection took about 10 s per call; with these it
 * takes under a second, and a silent broker one request timeout. The controller retries with
 * its own backoff.
 */
const RETRY = { retries: 2, initialRetryTime: 250, maxRetryTime: 2_000 };

/** Errors kafkajs raises when it cannot talk to a broker at all. */
const CONNECTION_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSMetadataNotLoaded',
]);

type KafkajsError = Error & { type?: unknown; errors?: unknown };

/** The error and its causes, outermost first (kafkajs wraps the real error in retry errors). */
function causes(err: unknown): KafkajsError[] {
  const chain: KafkajsError[] = [];
  for (let e = err; e instanceof Error && !chain.includes(e); e = e.cause) chain.push(e);
  return chain;
}

function isUnreachable(err: unknown): boolean {
  // "Broker not connected" is a plain Error kafkajs throws when it never got an answer to ApiVersions.
  return causes(err).some((e) => CONNECTION_ERRORS.has(e.name) || e.message === 'Broker not connected');
}

/** The Kafka protocol error name, such as INVALID_CONFIG, if Kafka answered with one. */
function kafkaCode(err: unknown): string | undefined {
  return causes(err).find((e) => typeof e.type === 'string')?.type as string | undefined;
}

function rootMessage(err: unknown): string {
  return causes(err).at(-1)?.message ?? String(err);
}

/** Manages topics through a kafkajs admin client, connected on first use and replaced after connection failures. */
export class KafkajsTopicAdmin implements TopicAdmin {
  #kafka: InstanceType<typeof Kafka>;
  #log: Logger;
  #brokers: string;
  /** How long the broker may take over creating or deleting: shorter than the request timeout, so its answer arrives. */
  #operationTimeoutMs: number;
  #admin: Promise<Admin> | undefined;

  constructor(options: KafkajsTopicAdminOptions) {
    this.#log = (options.log ?? pino({ enabled: false })).child({ adapter: 'kafkajs-topic-admin' });
    this.#brokers = options.brokers.join(',');
    const requestTimeout = options.requestTimeoutMs ?? 5_000;
    this.#operationTimeoutMs = Math.max(1_000, requestTimeout - 1_000);
    const kafkajsLog = this.#log.child({ component: 'kafkajs' });
    this.#kafka = new Kafka({
      brokers: options.brokers,
      clientId: options.clientId ?? 'weir-operator',
      requestTimeout,
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      retry: RETRY,
      // It logs every error answer at error level (a describe of a missing topic included), and
      // each reaches the caller as a thrown error anyway: only its warnings get a line of their own.
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        const { message, broker, error, retryCount } = entry.log;
        kafkajsLog[entry.level === logLevel.ERROR ? 'debug' : 'warn'](
          { namespace: entry.namespace, broker, error, retryCount },
          message,
        );
      },
    });
  }

  /** The topics among `names` that exist, with their partitions, replicas and own configs. */
  async describe(names: string[]): Promise<Map<string, TopicState>> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return new Map();
    return this.#call(`describing topics ${unique.join(', ')}`, unique.join(','), async (admin) => {
      const layouts = await this.#layouts(admin, unique);
      return joinTopicStates(layouts, layouts.size > 0 ? await this.#configs(admin, [...layouts.keys()]) : new Map());
    });
  }

  /** Creates the topics that do not exist yet and waits until their partitions have leaders. */
  async create(specs: TopicSpec[]): Promise<void> {
    if (specs.length === 0) return;
    await this.#call(`creating ${specs.map(describeTopicSpec).join('; ')}`, specs[0]!.name, async (admin) => {
      try {
        const created = await admin.createTopics({
          validateOnly: false,
          // kafkajs's own wait gives up on UNKNOWN_TOPIC_OR_PARTITION, which a broker that has
          // just restarted answers for a while about a topic it has just created.
          waitForLeaders: false,
          timeout: this.#operationTimeoutMs,
          topics: specs.map((spec) => ({
            topic: spec.name,
            numPartitions: spec.partitions,
            replicationFactor: spec.replicationFactor,
            configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
          })),
        });
        await this.#untilLed(
          admin,
          specs.map((s) => s.name),
        );
        this.#log.info(
          { topics: specs.map((s) => s.name) },
          created ? 'created topics' : 'created the topics that did not exist yet',
        );
      } catch (err) {
        // kafkajs reports per-topic refusals together; the topics that already exist are fine.
        const errors = Array.isArray((err as KafkajsError).errors)
          ? ((err as KafkajsError).errors as (Error & { topic?: string; type?: string })[])
          : [];
        const refused = errors.filter((e) => e.type !== 'TOPIC_ALREADY_EXISTS');
        if (errors.length === 0) throw err;
        if (refused.length === 0) return;
        const first = refused[0]!;
        const spec = (name: string | undefined) => specs.find((s) => s.name === name);
        const message = refused
          .map(
            (e) =>
              `creating ${spec(e.topic) ? describeTopicSpec(spec(e.topic)!) : `topic ${e.topic}`}: ${e.type} (${e.message})`,
          )
          .join('; ');
        throw kafkaRefused(message, { kafkaCode: first.type ?? 'Unknown', topic: first.topic ?? specs[0]!.name }, err);
      }
    });
  }

  /** Grows the topic to `total` partitions; does nothing if it has them already. */
  async increasePartitions(name: string, total: number): Promise<void> {
    await this.#call(`growing topic ${name} to ${total} partitions`, name, async (admin) => {
      try {
        await admin.createPartitions({
          validateOnly: false,
          timeout: this.#operationTimeoutMs,
          topicPartitions: [{ topic: name, count: total }],
        });
        await untilSeen(
          async () => ((await this.#layouts(admin, [name])).get(name)?.partitions ?? 0) >= total,
          this.#operationTimeoutMs,
        );
        this.#log.info({ topic: name, partitions: total }, 'increased partitions');
      } catch (err) {
        // Kafka refuses a count equal to the current one too, which a retry after a lost answer sends.
        if (kafkaCode(err) !== 'INVALID_PARTITIONS') throw err;
        const partitions = (await this.#layouts(admin, [name])).get(name)?.partitions;
        if (partitions === total) return;
        if (partitions !== undefined && partitions > total) {
          throw kafkaRefused(
            `growing topic ${name} to ${total} partitions: it has ${partitions} already and Kafka cannot remove partitions`,
            { kafkaCode: 'INVALID_PARTITIONS', topic: name },
            err,
          );
        }
        throw err;
      }
    });
  }

  /** Sets these configs on the topic and keeps its other configs (see the file's comment on AlterConfigs). */
  async alterConfig(name: string, config: Record<string, string>): Promise<void> {
    if (Object.keys(config).length === 0) return;
    await this.#call(`setting ${listConfig(config)} on topic ${name}`, name, async (admin) => {
      const current = (await this.#configs(admin, [name])).get(name);
      if (current === undefined) {
        throw kafkaRefused(`setting ${listConfig(config)} on topic ${name}: the topic does not exist`, {
          kafkaCode: 'UNKNOWN_TOPIC_OR_PARTITION',
          topic: name,
        });
      }
      if (Object.entries(config).every(([key, value]) => current[key] === value)) return;
      const merged = { ...current, ...config };
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name,
            configEntries: Object.entries(merged).map(([key, value]) => ({ name: key, value })),
          },
        ],
      });
      // The next change merges into what it reads: it must read this one.
      await untilSeen(async () => {
        const now = (await this.#configs(admin, [name])).get(name) ?? {};
        return Object.entries(config).every(([k, v]) => now[k] === v);
      }, this.#operationTimeoutMs);
      this.#log.info({ topic: name, config }, 'set topic configs');
    });
  }

  /** Deletes the topics that exist among `names`. */
  async deleteTopics(names: string[]): Promise<void> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return;
    await this.#call(`deleting topics ${unique.join(', ')}`, unique.join(','), async (admin) => {
      // Deleting a missing topic fails the whole request, after kafkajs retried it a few times.
      const existing = [...(await this.#layouts(admin, unique)).keys()];
      if (existing.length === 0) return;
      try {
        await admin.deleteTopics({ topics: existing, timeout: this.#operationTimeoutMs });
      } catch (err) {
        // Someone else deleted one meanwhile: fine, as long as none of them is left.
        if (kafkaCode(err) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
      }
      const gone = await untilSeen(
        async () => (await this.#layouts(admin, existing)).size === 0,
        this.#operationTimeoutMs,
      );
      if (!gone)
        throw kafkaRefused(`deleting topics ${existing.join(', ')}: they are still there`, {
          kafkaCode: 'REQUEST_TIMED_OUT',
          topic: existing[0]!,
        });
      this.#log.info({ topics: existing }, 'deleted topics');
    });
  }

  /**
   * Round-trip time of a cluster metadata request, in milliseconds (connecting included, if
   * needed). kafkajs asks for every topic's metadata here, as it does before every admin request.
   */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.#call('pinging Kafka', '', (admin) => admin.describeCluster());
    return performance.now() - started;
  }

  /** Disconnects the admin client; a later call would connect again. */
  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.then((a) => a.disconnect()).catch(() => undefined);
  }

  /** Runs `fn` on the connected admin client and turns kafkajs errors into {@link kafkaUnavailable} or {@link kafkaRefused} errors. */
  async #call<T>(what: string, topic: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
    if (!this.#admin) {
      const admin = this.#kafka.admin({ retry: RETRY });
      this.#admin = admin.connect().then(() => admin);
    }
    const connecting = this.#admin;
    let admin: Admin;
    try {
      admin = await connecting;
    } catch (err) {
      this.#drop(connecting);
      throw this.#failure(what, topic, err);
    }
    try {
      return await fn(admin);
    } catch (err) {
      if (isUnreachable(err)) this.#drop(connecting);
      throw this.#failure(what, topic, err);
    }
  }

  /** Forgets the admin client, unless another call replaced it already, so that the next call connects anew. */
  #drop(admin: Promise<Admin>): void {
    if (this.#admin !== admin) return;
    this.#admin = undefined;
    void admin.then((a) => a.disconnect()).catch(() => undefined);
  }

  #failure(what: string, topic: string, err: unknown): Error {
    if (refusalOf(err)) return err as Error;
    if (isUnreachable(err))
      return kafkaUnavailable(`${what}: Kafka at ${this.#brokers} is unreachable: ${rootMessage(err)}`, err);
    const code = kafkaCode(err);
    return kafkaRefused(
      `${what}: ${code ? `${code}: ` : ''}${rootMessage(err)}`,
      { kafkaCode: code ?? 'Unknown', topic },
      err,
    );
  }

  /**
   * Waits until every topic of `names` is known to the broker with a leader for each
   * partition, or until the operation timeout; what Kafka's own clients wait for before they
   * write. A topic the broker does not know yet is asked about again.
   */
  async #untilLed(admin: Admin, names: string[]): Promise<void> {
    const deadline = performance.now() + this.#operationTimeoutMs;
    for (;;) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: names });
        const led = topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
        if (led && topics.length === names.length) return;
      } catch (err) {
        const code = kafkaCode(err);
        if (code !== 'UNKNOWN_TOPIC_OR_PARTITION' && code !== 'LEADER_NOT_AVAILABLE') throw err;
      }
      if (performance.now() > deadline) return;
      await sleep(100);
    }
  }

  /** Partitions and replicas of the topics among `names` that exist. */
  async #layouts(
    admin: Admin,
    names: string[],
  ): Promise<Map<string, { partitions: number; replicationFactor: number }>> {
    let topics: ITopicMetadata[];
    try {
      ({ topics } = await admin.fetchTopicMetadata({ topics: names }));
    } catch (err) {
      if (kafkaCode(err) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
      if (names.length === 1) return new Map();
      const each = await Promise.all(names.map((name) => this.#layouts(admin, [name])));
      return new Map(each.flatMap((m) => [...m]));
    }
    return new Map(
      topics.map((t) => [
        t.name,
        {
          partitions: t.partitions.length,
          replicationFactor: Math.max(0, ...t.partitions.map((p) => p.replicas.length)),
        },
      ]),
    );
  }

  /** The configs set on the topics themselves (not inherited from the broker), for those among `names` that exist. */
  async #configs(admin: Admin, names: string[]): Promise<Map<string, Record<string, string>>> {
    let resources;
    try {
      ({ resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      }));
    } catch (err) {
      if (kafkaCode(err) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
      if (names.length === 1) return new Map();
      const each = await Promise.all(names.map((name) => this.#configs(admin, [name])));
      return new Map(each.flatMap((m) => [...m]));
    }
    return new Map(
      resources.map((r) => [
        r.resourceName,
        // TOPIC_CONFIG (1) is Kafka's DYNAMIC_TOPIC_CONFIG, set on the topic; isDefault is false for
        // broker-level settings too. No topic config is sensitive, so no value is hidden as null.
        Object.fromEntries(
          r.configEntries
            .filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG && typeof e.configValue === 'string')
            .map((e) => [e.configName, e.configValue]),
        ),
      ]),
    );
  }
}
