/**
 * {@link RecordSender} on kafkajs 2.2.4, the client the user named: an idempotent producer
 * (one producer id, sequence numbers per partition, so the broker drops a batch the client
 * retries after a lost answer) writing with acks=all. Records are partitioned by key with
 * kafkajs's default partitioner, murmur2 as Kafka's Java client uses it.
 *
 * kafkajs retries an idempotent producer's sends for ever by default; here a send gives up
 * after a few retries (seconds, not minutes) so that a caller can answer "unavailable" while
 * Kafka is away. kafkajs warns that a bounded retry weakens its exactly-once promise: a
 * batch it gave up on may still have been written. Callers that must not duplicate keep
 * their own idempotency key until Kafka's answer is known (see the gateway).
 */
import kafkajs, { type LogEntry, type Message, type Producer } from 'kafkajs';
import { Errors, weirError } from '../errors/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { kafkajsSecurity, type KafkaConnection } from './kafka-connection.ts';
import type { ProducerRecord, RecordSender } from './producer.ts';

// kafkajs is CommonJS and builds its exports in a way Node cannot see by name.
const { Kafka, logLevel, CompressionTypes } = kafkajs;

/** Options for {@link KafkajsRecordSender}. */
export interface KafkajsRecordSenderOptions {
  brokers: string[];
  /** The SCRAM user and TLS of the connection, where the cluster asks for them. */
  security?: Pick<KafkaConnection, 'sasl' | 'tls'>;
  clientId: string;
  log: Logger;
  /** How long one produce request may wait for the broker's answer; 5 s unless given. */
  requestTimeoutMs?: number;
  /** How long opening a connection may take; 2 s unless given. */
  connectionTimeoutMs?: number;
}

/** Errors kafkajs raises when it cannot talk to a broker. */
const CONNECTION_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSMetadataNotLoaded',
]);

/** Kafka's answers that refuse the records themselves: sending them again cannot help. */
const REFUSALS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'TOPIC_AUTHORIZATION_FAILED',
]);

type KafkajsError = Error & { type?: unknown };

function causes(err: unknown): KafkajsError[] {
  const chain: KafkajsError[] = [];
  for (
    let e = err;
    e instanceof Error && !chain.includes(e);
    e = e.cause ?? (e as { originalError?: unknown }).originalError
  )
    chain.push(e);
  return chain;
}

/** A kafkajs failure as a registry error. */
export function describeKafkajsFailure(err: unknown, what: string): Error {
  const chain = causes(err);
  const refusal = chain.map((e) => e.type).find((t): t is string => typeof t === 'string' && REFUSALS.has(t));
  if (refusal)
    return weirError(Errors.KafkaRequestFailed, `${what}: Kafka refused the records (${refusal})`, {
      cause: err,
      details: { kafkaCode: refusal },
    });
  const unreachable = chain.some((e) => CONNECTION_ERRORS.has(e.name) || e.message === 'Broker not connected');
  const root = chain.at(-1)?.message ?? String(err);
  return weirError(Errors.KafkaUnavailable, `${what}: ${unreachable ? 'Kafka is unreachable' : root}`, { cause: err });
}

/** An idempotent kafkajs producer with acks=all. */
export class KafkajsRecordSender implements RecordSender {
  readonly client = 'kafkajs';
  #producer: Producer;
  #requestTimeoutMs: number;

  constructor(options: KafkajsRecordSenderOptions) {
    const log = options.log.child({ component: 'kafkajs' });
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    const kafka = new Kafka({
      brokers: options.brokers,
      clientId: options.clientId,
      ...kafkajsSecurity(options.security ?? {}),
      requestTimeout: this.#requestTimeoutMs,
      connectionTimeout: options.connectionTimeoutMs ?? 2_000,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        const { message, broker, error } = entry.log;
        // The bounded retry is chosen on purpose (see above); every send error reaches the caller.
        if (message.startsWith('Limiting retries')) return;
        log[entry.level === logLevel.ERROR ? 'debug' : 'warn']({ namespace: entry.namespace, broker, error }, message);
      },
    });
    this.#producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000 },
    });
  }

  async connect(): Promise<void> {
    try {
      await this.#producer.connect();
    } catch (err) {
      throw describeKafkajsFailure(err, 'connecting the producer');
    }
  }

  async sendBatch(records: readonly ProducerRecord[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const r of records) {
      const messages = byTopic.get(r.topic) ?? [];
      messages.push({ key: r.key, value: r.value, headers: r.headers as Record<string, string> });
      byTopic.set(r.topic, messages);
    }
    try {
      await this.#producer.sendBatch({
        acks: -1,
        timeout: this.#requestTimeoutMs,
        compression: CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (err) {
      throw describeKafkajsFailure(err, `writing ${records.length} records`);
    }
  }

  async close(): Promise<void> {
    await this.#producer.disconnect().catch(() => undefined);
  }
}
