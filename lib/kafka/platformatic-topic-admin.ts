/**
 * {@link TopicAdmin} on @platformatic/kafka 2.12.1: the protocol requests the library exports,
 * sent over its connection pool. Topic ids are reported as kafka-topics.sh prints them (22
 * characters of URL-safe base64), not as the hyphenated UUID the library decodes.
 *
 * Its `Admin` client is not used, because for what Weir needs it falls short:
 * - `createTopics` takes one set of configs for every topic of a request, and a pipeline's
 *   dead-letter topic keeps its records longer than the others.
 * - `createPartitions` is deduplicated under one fixed key: a call made while another is in
 *   flight gets the other's result, and its own topic is never grown.
 * - `metadata`, the one call that reads existing topics and their ids, caches them for
 *   `metadataMaxAge` and fails as a whole ("Unknown topic ...") when one of them is missing.
 * - A per-topic refusal fails the whole call, and a missing topic is retried first, like a
 *   network error (3 s with the defaults) for every describe, delete and config change of one.
 * The requests themselves carry each topic's own error code and Kafka's error message, so here
 * a topic that exists already or is missing is sorted out per topic, in one round trip.
 *
 * Request versions are fixed (Metadata v12, CreateTopics v7, CreatePartitions v3, DeleteTopics v6,
 * DescribeConfigs v4, IncrementalAlterConfigs v1): the Kafka versions the library supports (3.5
 * and later) all speak them.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConfigResourceTypes,
  ConfigSources,
  ConnectionPool,
  IncrementalAlterConfigOperationTypes,
  NetworkError,
  ResponseError,
  createPartitionsV3,
  createTopicsV7,
  deleteTopicsV6,
  describeConfigsV4,
  incrementalAlterConfigsV1,
  metadataV12,
  parseBroker,
  protocolErrors,
  protocolErrorsCodesById,
  type API,
  type Broker,
} from '@platformatic/kafka';
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

/** Options for {@link PlatformaticTopicAdmin}. */
export interface PlatformaticTopicAdminOptions {
  /** Bootstrap servers, `host:port`. */
  brokers: string[];
  clientId?: string;
  log?: Logger;
  /** How long the client waits for the answer to one request; default 5000. */
  requestTimeoutMs?: number;
  /** How long opening a connection may take; default 3000. */
  connectionTimeoutMs?: number;
}

/** The Kafka error codes this adapter acts on, from the client library's own table. */
const ERROR = {
  NONE: 0,
  UNKNOWN_TOPIC_OR_PARTITION: protocolErrors.UNKNOWN_TOPIC_OR_PARTITION!.code,
  LEADER_NOT_AVAILABLE: protocolErrors.LEADER_NOT_AVAILABLE!.code,
  TOPIC_ALREADY_EXISTS: protocolErrors.TOPIC_ALREADY_EXISTS!.code,
  INVALID_PARTITIONS: protocolErrors.INVALID_PARTITIONS!.code,
  NOT_CONTROLLER: protocolErrors.NOT_CONTROLLER!.code,
} as const;
/** Kafka's id of "no topic id", which old topics and old brokers report. */
const NO_TOPIC_ID = '00000000-0000-0000-0000-000000000000';
/** One retry, shortly after, for a pooled connection the broker closed; the controller retries with its own backoff after that. */
const ATTEMPTS = 2;
const RETRY_DELAY_MS = 250;
/** How long create waits before it looks again whether the new topics' partitions have leaders: doubling, up to the second value. */
const LEADER_POLL_MS = [25, 400] as const;

const codeName = (code: number) => protocolErrorsCodesById[code] ?? `ERROR_${code}`;

/** The error, its causes and the errors it collects (the library nests one retry's errors in another's). */
function errorTree(err: unknown): Error[] {
  const seen: Error[] = [];
  const visit = (e: unknown) => {
    if (!(e instanceof Error) || seen.includes(e)) return;
    seen.push(e);
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner);
    visit(e.cause);
  };
  visit(err);
  return seen;
}

/** Refused, reset, closed or timed-out connections: the library gives them all NetworkError's code. */
function isUnreachable(err: unknown): boolean {
  return errorTree(err).some((e) => (e as { code?: unknown }).code === NetworkError.code);
}

function rootMessage(err: unknown): string {
  return errorTree(err).at(-1)?.message ?? String(err);
}

/** The id as kafka-topics.sh prints it: the 16 bytes in URL-safe base64 without padding, not the hyphenated hex the library reads. */
export function topicIdString(uuid: string): string | undefined {
  return uuid === NO_TOPIC_ID ? undefined : Buffer.from(uuid.replaceAll('-', ''), 'hex').toString('base64url');
}

/** A per-topic refusal from one of the responses. */
interface Refusal {
  topic: string;
  errorCode: number;
  errorMessage?: string | null;
}

/** Manages topics with requests on a pool of connections, opened on first use and again after the broker closed them. */
export class PlatformaticTopicAdmin implements TopicAdmin {
  #log: Logger;
  #clientId: string;
  #bootstrap: Broker[];
  #brokers: string;
  #requestTimeoutMs: number;
  #connectionTimeoutMs: number;
  /** How long the broker may take over creating or deleting: shorter than the request timeout, so its answer arrives. */
  #operationTimeoutMs: number;
  #pool: ConnectionPool | undefined;
  /** The broker the last Metadata response named as controller, to which topic changes go. */
  #controller: Broker | undefined;

  constructor(options: PlatformaticTopicAdminOptions) {
    this.#log = (options.log ?? pino({ enabled: false })).child({ adapter: 'platformatic-topic-admin' });
    this.#clientId = options.clientId ?? 'weir-operator';
    this.#bootstrap = options.brokers.map((b) => parseBroker(b));
    this.#brokers = options.brokers.join(',');
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.#connectionTimeoutMs = options.connectionTimeoutMs ?? 3_000;
    this.#operationTimeoutMs = Math.max(1_000, this.#requestTimeoutMs - 1_000);
  }

  /** The topics among `names` that exist, with their id, partitions, replicas and own configs. */
  async describe(names: string[]): Promise<Map<string, TopicState>> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return new Map();
    return this.#call(`describing topics ${unique.join(', ')}`, unique.join(','), async () => {
      const layouts = await this.#layouts(unique);
      return joinTopicStates(layouts, layouts.size > 0 ? await this.#configs([...layouts.keys()]) : new Map());
    });
  }

  /** Creates the topics that do not exist yet, in one request, and waits until their partitions have leaders. */
  async create(specs: TopicSpec[]): Promise<void> {
    if (specs.length === 0) return;
    await this.#call(`creating ${specs.map(describeTopicSpec).join('; ')}`, specs[0]!.name, async () => {
      const requests = specs.map((spec) => ({
        name: spec.name,
        numPartitions: spec.partitions,
        replicationFactor: spec.replicationFactor,
        assignments: [],
        configs: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
      }));
      const { topics } = await this.#send('controller', createTopicsV7.api, requests, this.#operationTimeoutMs, false);
      this.#refused(
        topics.map((t) => ({ topic: t.name, errorCode: t.errorCode, errorMessage: t.errorMessage })),
        [ERROR.TOPIC_ALREADY_EXISTS],
        (name) => {
          const spec = specs.find((s) => s.name === name);
          return spec ? `creating ${describeTopicSpec(spec)}` : `creating topic ${name}`;
        },
      );
      const created = topics.filter((t) => t.errorCode === ERROR.NONE).map((t) => t.name);
      if (created.length > 0) await this.#waitForLeaders(created);
      this.#log.info(
        { topics: specs.map((s) => s.name), created },
        created.length === specs.length ? 'created topics' : 'created the topics that did not exist yet',
      );
    });
  }

  /** Grows the topic to `total` partitions; does nothing if it has them already. */
  async increasePartitions(name: string, total: number): Promise<void> {
    const what = `growing topic ${name} to ${total} partitions`;
    await this.#call(what, name, async () => {
      const { results } = await this.#send(
        'controller',
        createPartitionsV3.api,
        [{ name, count: total, assignments: null }],
        this.#operationTimeoutMs,
        false,
      );
      const result = results.find((r) => r.name === name);
      // Kafka refuses a count equal to the current one too, which a retry after a lost answer sends.
      if (result?.errorCode === ERROR.INVALID_PARTITIONS) {
        const partitions = (await this.#layouts([name])).get(name)?.partitions;
        if (partitions === total) return;
        if (partitions !== undefined && partitions > total) {
          throw kafkaRefused(`${what}: it has ${partitions} already and Kafka cannot remove partitions`, {
            kafkaCode: 'INVALID_PARTITIONS',
            topic: name,
          });
        }
      }
      this.#refused(
        results.map((r) => ({ topic: r.name, errorCode: r.errorCode, errorMessage: r.errorMessage })),
        [],
        () => what,
      );
      await untilSeen(
        async () => ((await this.#layouts([name])).get(name)?.partitions ?? 0) >= total,
        this.#operationTimeoutMs,
      );
      this.#log.info({ topic: name, partitions: total }, 'increased partitions');
    });
  }

  /** Sets these configs on the topic with IncrementalAlterConfigs, which leaves its other configs as they are. */
  async alterConfig(name: string, config: Record<string, string>): Promise<void> {
    if (Object.keys(config).length === 0) return;
    const what = `setting ${listConfig(config)} on topic ${name}`;
    await this.#call(what, name, async () => {
      const configs = Object.entries(config).map(([key, value]) => ({
        name: key,
        configOperation: IncrementalAlterConfigOperationTypes.SET,
        value,
      }));
      const { responses } = await this.#send(
        'any',
        incrementalAlterConfigsV1.api,
        [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configs }],
        false,
      );
      this.#refused(
        responses.map((r) => ({ topic: r.resourceName, errorCode: r.errorCode, errorMessage: r.errorMessage })),
        [],
        () => what,
      );
      await untilSeen(async () => {
        const current = (await this.#configs([name])).get(name) ?? {};
        return Object.entries(config).every(([k, v]) => current[k] === v);
      }, this.#operationTimeoutMs);
      this.#log.info({ topic: name, config }, 'set topic configs');
    });
  }

  /** Deletes the topics that exist among `names`, in one request. */
  async deleteTopics(names: string[]): Promise<void> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return;
    await this.#call(`deleting topics ${unique.join(', ')}`, unique.join(','), async () => {
      const { responses } = await this.#send(
        'controller',
        deleteTopicsV6.api,
        unique.map((name) => ({ name })),
        this.#operationTimeoutMs,
      );
      this.#refused(
        responses.map((r) => ({ topic: r.name ?? '', errorCode: r.errorCode, errorMessage: r.errorMessage })),
        [ERROR.UNKNOWN_TOPIC_OR_PARTITION],
        (topic) => `deleting topic ${topic}`,
      );
      const deleted = responses.filter((r) => r.errorCode === ERROR.NONE).map((r) => r.name ?? '');
      if (deleted.length === 0) return;
      await untilSeen(async () => (await this.#layouts(deleted)).size === 0, this.#operationTimeoutMs);
      this.#log.info({ topics: deleted }, 'deleted topics');
    });
  }

  /** Round-trip time of a Metadata request for no topics, in milliseconds (connecting included, if needed). */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.#call('pinging Kafka', '', () => this.#metadata([]));
    return performance.now() - started;
  }

  /** Closes the connections; a later call opens new ones. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#controller = undefined;
    await pool?.close().catch(() => undefined);
  }

  /** Runs `fn` and turns what fails into {@link kafkaUnavailable} or {@link kafkaRefused} errors. */
  async #call<T>(what: string, topic: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (refusalOf(err)) throw err;
      if (isUnreachable(err))
        throw kafkaUnavailable(`${what}: Kafka at ${this.#brokers} is unreachable: ${rootMessage(err)}`, err);
      const protocolError = errorTree(err).find((e) => typeof (e as { apiId?: unknown }).apiId === 'string') as
        (Error & { apiId: string; serverErrorMessage?: string | null }) | undefined;
      const code = protocolError?.apiId;
      throw kafkaRefused(
        `${what}: ${code ? `${code}: ` : ''}${protocolError?.serverErrorMessage ?? rootMessage(err)}`,
        { kafkaCode: code ?? 'Unknown', topic },
        err,
      );
    }
  }

  /** Throws a {@link kafkaRefused} error for the first refusal whose code is not in `fine`, naming every such refusal. */
  #refused(results: Refusal[], fine: number[], what: (topic: string) => string): void {
    const refused = results.filter((r) => r.errorCode !== ERROR.NONE && !fine.includes(r.errorCode));
    if (refused.length === 0) return;
    // The next call asks the bootstrap brokers which broker is the controller now.
    if (refused.some((r) => r.errorCode === ERROR.NOT_CONTROLLER)) this.#controller = undefined;
    const message = refused
      .map((r) => `${what(r.topic)}: ${codeName(r.errorCode)}${r.errorMessage ? ` (${r.errorMessage})` : ''}`)
      .join('; ');
    throw kafkaRefused(message, { kafkaCode: codeName(refused[0]!.errorCode), topic: refused[0]!.topic });
  }

  /**
   * Sends one request to a bootstrap broker or to the controller, once more after a connection
   * failure. Per-topic errors do not throw: the response carries them, and the callers decide.
   */
  async #send<Args extends unknown[], Response>(
    to: 'any' | 'controller',
    api: API<Args, Response>,
    ...args: Args
  ): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const brokers = to === 'controller' ? await this.#controllerBrokers() : this.#bootstrap;
      try {
        this.#pool ??= new ConnectionPool(this.#clientId, {
          connectTimeout: this.#connectionTimeoutMs,
          requestTimeout: this.#requestTimeoutMs,
        });
        const connection = await this.#pool.getFirstAvailable(brokers);
        return await api.async(connection, ...args);
      } catch (err) {
        // The library throws for any per-topic error code, with the whole parsed response attached.
        if (err instanceof ResponseError) return (err as ResponseError & { response: Response }).response;
        if (!isUnreachable(err) || attempt >= ATTEMPTS) throw err;
        if (to === 'controller') this.#controller = undefined;
        await sleep(RETRY_DELAY_MS);
      }
    }
  }

  async #controllerBrokers(): Promise<Broker[]> {
    if (!this.#controller) await this.#metadata([]);
    return this.#controller ? [this.#controller] : this.#bootstrap;
  }

  /** A Metadata request without auto-creation; it also tells which broker is the controller. */
  async #metadata(names: string[]): Promise<metadataV12.MetadataResponse> {
    const response = await this.#send('any', metadataV12.api, names, false, false);
    const controller = response.brokers.find((b) => b.nodeId === response.controllerId);
    this.#controller = controller ? { host: controller.host, port: controller.port } : undefined;
    return response;
  }

  /** Id, partitions and replicas of the topics among `names` that exist. */
  async #layouts(
    names: string[],
  ): Promise<Map<string, { topicId?: string; partitions: number; replicationFactor: number }>> {
    const { topics } = await this.#metadata(names);
    const missing = (t: (typeof topics)[number]) =>
      t.errorCode === ERROR.UNKNOWN_TOPIC_OR_PARTITION ||
      (t.errorCode === ERROR.LEADER_NOT_AVAILABLE && t.partitions.length === 0);
    this.#refused(
      topics
        .filter((t) => t.errorCode !== ERROR.LEADER_NOT_AVAILABLE)
        .map((t) => ({ topic: t.name ?? '', errorCode: t.errorCode })),
      [ERROR.UNKNOWN_TOPIC_OR_PARTITION],
      (topic) => `describing topic ${topic}`,
    );
    const layouts = new Map<string, { topicId?: string; partitions: number; replicationFactor: number }>();
    for (const t of topics) {
      if (!t.name || missing(t)) continue;
      const topicId = topicIdString(t.topicId);
      layouts.set(t.name, {
        ...(topicId ? { topicId } : {}),
        partitions: t.partitions.length,
        replicationFactor: Math.max(0, ...t.partitions.map((p) => p.replicaNodes.length)),
      });
    }
    return layouts;
  }

  /** The configs set on the topics themselves (not inherited from the broker), for those among `names` that exist. */
  async #configs(names: string[]): Promise<Map<string, Record<string, string>>> {
    const { results } = await this.#send(
      'any',
      describeConfigsV4.api,
      names.map((name) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configurationKeys: null })),
      false,
      false,
    );
    this.#refused(
      results.map((r) => ({ topic: r.resourceName, errorCode: r.errorCode, errorMessage: r.errorMessage })),
      [ERROR.UNKNOWN_TOPIC_OR_PARTITION],
      (topic) => `describing the configs of topic ${topic}`,
    );
    return new Map(
      results
        .filter((r) => r.errorCode === ERROR.NONE)
        .map((r) => [
          r.resourceName,
          // DYNAMIC_TOPIC_CONFIG is what is set on the topic; no topic config is sensitive, so no value is hidden as null.
          Object.fromEntries(
            r.configs
              .filter((c) => c.configSource === ConfigSources.DYNAMIC_TOPIC_CONFIG && typeof c.value === 'string')
              .map((c) => [c.name, c.value as string]),
          ),
        ]),
    );
  }

  /**
   * Waits until the broker answering metadata has every partition of the topics with a leader,
   * so that the describe after a create sees them: its metadata can lag the controller, which
   * answered the create, by seconds under load (kafkajs's `waitForLeaders` fails on that with
   * UNKNOWN_TOPIC_OR_PARTITION). Past the operation timeout it stops waiting: a later describe
   * sees them, and writers retry until leaders are elected.
   */
  async #waitForLeaders(names: string[]): Promise<void> {
    const deadline = performance.now() + this.#operationTimeoutMs;
    for (let wait: number = LEADER_POLL_MS[0]; ; wait = Math.min(2 * wait, LEADER_POLL_MS[1])) {
      const { topics } = await this.#metadata(names);
      const led = topics.filter(
        (t) => t.errorCode === ERROR.NONE && t.partitions.length > 0 && t.partitions.every((p) => p.leaderId >= 0),
      );
      if (led.length === names.length) return;
      if (performance.now() > deadline) {
        this.#log.warn(
          { topics: names, led: led.map((t) => t.name) },
          'created topics whose partitions have no leader yet',
        );
        return;
      }
      await sleep(wait);
    }
  }
}
