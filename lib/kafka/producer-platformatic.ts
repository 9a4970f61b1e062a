/**
 * {@link RecordSender} on @platformatic/kafka 2.12.1: its idempotent producer with
 * acks=all. Its default partitioner reads murmur2 as unsigned, which puts a key on another
 * partition than Kafka's Java client (and kafkajs) would; the library's
 * `compatibilityPartitioner` masks the sign bit as they do, so every Weir producer, Flink's
 * included, agrees on where a key goes.
 *
 * As with the kafkajs sender, a send gives up after a few retries so that callers can
 * answer "unavailable" within seconds; a batch it gave up on may still have been written.
 */
import {
  compatibilityPartitioner,
  NetworkError,
  ProduceAcks,
  Producer,
  stringSerializer,
  TimeoutError,
} from '@platformatic/kafka';
import { Errors, weirError } from '../errors/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { platformaticSecurity, type KafkaConnection } from './kafka-connection.ts';
import type { ProducerRecord, RecordSender } from './producer.ts';

/** Options for {@link PlatformaticRecordSender}. */
export interface PlatformaticRecordSenderOptions {
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

/** Kafka's answers that refuse the records themselves: sending them again cannot help. */
const REFUSALS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'TOPIC_AUTHORIZATION_FAILED',
]);

/** The error, its causes and the errors it collects. */
function errorTree(err: unknown): (Error & { code?: unknown; apiId?: unknown })[] {
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

/** A library failure as a registry error. */
export function describePlatformaticFailure(err: unknown, what: string): Error {
  const tree = errorTree(err);
  const refusal = tree.map((e) => e.apiId).find((id): id is string => typeof id === 'string' && REFUSALS.has(id));
  if (refusal)
    return weirError(Errors.KafkaRequestFailed, `${what}: Kafka refused the records (${refusal})`, {
      cause: err,
      details: { kafkaCode: refusal },
    });
  const unreachable = tree.some((e) => e.code === NetworkError.code || e.code === TimeoutError.code);
  const root = tree.at(-1)?.message ?? String(err);
  return weirError(Errors.KafkaUnavailable, `${what}: ${unreachable ? 'Kafka is unreachable' : root}`, { cause: err });
}

/** An idempotent @platformatic/kafka producer with acks=all. */
export class PlatformaticRecordSender implements RecordSender {
  readonly client = 'platformatic';
  #producer: Producer<Buffer, Buffer, string, string>;

  constructor(options: PlatformaticRecordSenderOptions) {
    this.#producer = new Producer({
      clientId: options.clientId,
      bootstrapBrokers: options.brokers,
      ...platformaticSecurity(options.security ?? {}),
      idempotent: true,
      acks: ProduceAcks.ALL,
      partitioner: compatibilityPartitioner,
      autocreateTopics: false,
      timeout: options.requestTimeoutMs ?? 5_000,
      requestTimeout: options.requestTimeoutMs ?? 5_000,
      connectTimeout: options.connectionTimeoutMs ?? 2_000,
      retries: 2,
      retryDelay: 250,
      serializers: { headerKey: stringSerializer, headerValue: stringSerializer },
    });
    this.#producer.on('error', (err: Error) =>
      options.log.debug({ err: { message: err.message } }, '@platformatic/kafka producer error'),
    );
  }

  async connect(): Promise<void> {
    try {
      await this.#producer.initIdempotentProducer({});
    } catch (err) {
      throw describePlatformaticFailure(err, 'connecting the producer');
    }
  }

  async sendBatch(records: readonly ProducerRecord[]): Promise<void> {
    try {
      await this.#producer.send({
        messages: records.map((r) => ({ topic: r.topic, key: r.key, value: r.value, headers: { ...r.headers } })),
      });
    } catch (err) {
      throw describePlatformaticFailure(err, `writing ${records.length} records`);
    }
  }

  async close(): Promise<void> {
    await this.#producer.close().catch(() => undefined);
  }
}
