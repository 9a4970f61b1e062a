/**
 * {@link GroupConsumer} on kafkajs 2.2.4, and the kafkajs client options every Weir
 * consumer and producer shares.
 *
 * kafkajs was chosen for the processor by measurement: on this machine it consumed a
 * 6-partition topic of small JSON events at 490,000–620,000 records/s against
 * @platformatic/kafka's 285,000 (its stream hands over one record at a time). What kafkajs
 * lacks is handled here and in the processor: it has no manual partition assignment, so
 * partitions are placed by {@link assignTasks} through a custom assigner; its
 * TxnOffsetCommit (v1) carries no group generation (KIP-447), so the processor fences
 * zombies with one transactional id per task instead (see transaction-kafkajs.ts).
 */
import type { Consumer, EachBatchPayload, LogEntry } from 'kafkajs';
import kafkajs from './consumer-kafkajs-fixed.ts';
import type { Logger } from '../observability/logger.ts';
import type {
  BatchControl,
  ConsumedBatch,
  ConsumedRecord,
  GroupConsumer,
  GroupConsumerHandlers,
  OffsetCommit,
} from './consumer.ts';
import { assignTasks, type TaskMode } from './consumer-task-assigner.ts';
import { kafkajsSecurity, type KafkaConnection, type KafkaSasl } from './kafka-connection.ts';

const { AssignerProtocol, Kafka, logLevel } = kafkajs;

/** A kafkajs client whose logs go to pino at warning level and above. */
export function kafkajsClient(
  options: KafkaConnection & { clientId: string; log: Logger },
): InstanceType<typeof Kafka> {
  const log = options.log.child({ component: 'kafkajs' });
  return new Kafka({
    brokers: options.brokers,
    clientId: options.clientId,
    ...kafkajsSecurity(options),
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, broker, error, groupId } = entry.log;
      log[entry.level === logLevel.ERROR ? 'warn' : 'info'](
        { namespace: entry.namespace, broker, error, groupId },
        message,
      );
    },
  });
}

function headersOf(raw: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const k in raw) {
    const v = raw[k];
    if (Buffer.isBuffer(v)) out[k] = v.toString('utf8');
    else if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/** A kafkajs partition assigner that places partitions with {@link assignTasks}. */
function taskAssigner(mode: TaskMode, owned: () => number[]) {
  const name = `WeirTasks-${mode}`;
  return ({ cluster }: { cluster: { findTopicPartitionMetadata(topic: string): { partitionId: number }[] } }) => ({
    name,
    version: 1,
    async assign({ members, topics }: { members: { memberId: string; memberMetadata: Buffer }[]; topics: string[] }) {
      const ownership = members.map((m) => {
        const meta = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
        let prior: number[] = [];
        try {
          prior = (JSON.parse(meta?.userData.toString('utf8') || '{}') as { owned?: number[] }).owned ?? [];
        } catch {
          // A member of an older version without ownership data owns nothing.
        }
        return { memberId: m.memberId, owned: prior };
      });
      const counts = new Map(topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).length]));
      const placed = assignTasks(ownership, Math.max(0, ...counts.values()), mode);
      return members.map(({ memberId }) => {
        const partitions = placed.get(memberId) ?? [];
        const assignment = Object.fromEntries(topics.map((t) => [t, partitions.filter((p) => p < counts.get(t)!)]));
        return {
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment,
            userData: Buffer.alloc(0),
          }),
        };
      });
    },
    protocol({ topics }: { topics: string[] }) {
      return {
        name,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.from(JSON.stringify({ owned: owned() })),
        }),
      };
    },
  });
}

/** Options for {@link KafkajsGroupConsumer}. */
export interface KafkajsGroupConsumerOptions {
  brokers: string[];
  sasl?: KafkaSasl;
  tls?: boolean;
  clientId: string;
  groupId: string;
  topics: string[];
  mode: TaskMode;
  log: Logger;
  /** Partitions worked on at once; their batches run concurrently. */
  concurrency: number;
  sessionTimeoutMs?: number;
  /** Most bytes one fetch returns per partition, and so the largest batch. */
  maxBytesPerPartition?: number;
}

export class KafkajsGroupConsumer implements GroupConsumer {
  readonly #o: KafkajsGroupConsumerOptions;
  #consumer: Consumer | undefined;
  #owned: number[] = [];

  constructor(options: KafkajsGroupConsumerOptions) {
    this.#o = options;
  }

  async start(handlers: GroupConsumerHandlers): Promise<void> {
    const kafka = kafkajsClient({
      brokers: this.#o.brokers,
      sasl: this.#o.sasl,
      tls: this.#o.tls,
      clientId: this.#o.clientId,
      log: this.#o.log,
    });
    const sessionTimeout = this.#o.sessionTimeoutMs ?? 10_000;
    const consumer = kafka.consumer({
      groupId: this.#o.groupId,
      partitionAssigners: [taskAssigner(this.#o.mode, () => this.#owned) as never],
      sessionTimeout,
      rebalanceTimeout: 60_000,
      heartbeatInterval: Math.floor(sessionTimeout / 5),
      // Only committed records: outputs of aborted transactions (a crashed processor's) never count.
      readUncommitted: false,
      maxBytesPerPartition: this.#o.maxBytesPerPartition ?? 4 * 2 ** 20,
      maxBytes: 32 * 2 ** 20,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      retry: { retries: 5, restartOnFailure: async () => true },
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assignment = event.payload.memberAssignment as Record<string, number[]>;
      this.#owned = [...new Set(Object.values(assignment).flat())].sort((a, b) => a - b);
      handlers.onAssigned(Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions })));
    });
    consumer.on(consumer.events.CRASH, (event) => handlers.onRestart(event.payload.error));
    await consumer.connect();
    await consumer.subscribe({ topics: this.#o.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.#o.concurrency,
      eachBatch: async ({ batch, resolveOffset, heartbeat }: EachBatchPayload) => {
        const records: ConsumedRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: headersOf(m.headers as Record<string, unknown>),
          timestamp: Number(m.timestamp),
        }));
        const consumed: ConsumedBatch = {
          topic: batch.topic,
          partition: batch.partition,
          records,
          nextOffset: String(BigInt(batch.lastOffset()) + 1n),
          highWatermark: batch.highWatermark,
        };
        const control: BatchControl = {
          // kafkajs resolves the offset of the last record done; its next fetch starts after it.
          done: (offset) => resolveOffset(String(BigInt(offset) - 1n)),
          heartbeat: () => heartbeat(),
        };
        await handlers.onBatch(consumed, control);
      },
    });
  }

  pause(topic: string, partition: number): void {
    this.#consumer?.pause([{ topic, partitions: [partition] }]);
  }

  resume(topic: string, partition: number): void {
    this.#consumer?.resume([{ topic, partitions: [partition] }]);
  }

  async commit(offsets: OffsetCommit[]): Promise<void> {
    if (offsets.length) await this.#consumer!.commitOffsets(offsets);
  }

  async stop(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.disconnect();
  }
}
