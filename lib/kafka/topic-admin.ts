/**
 * The one interface through which the Pipeline controller manages Kafka topics, and the
 * pure decision of what to change on a topic. Implementations (@platformatic/kafka, which
 * the controller uses, and kafkajs, which bench/topic-admin.ts measures against it) only
 * carry out what {@link planTopicChanges} decided, so the rules about what Weir may
 * change on a topic live here, in one place, tested without a broker.
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Errors, hasCode, weirError, type WeirError } from '../errors/errors.ts';

/** A topic as the Pipeline asks for it. */
export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  /**
   * Topic-level configs Weir manages, such as `retention.ms` and `cleanup.policy`, in the
   * canonical form the broker reports them in (`compact,delete`, not `compact, delete`):
   * values are compared as strings.
   */
  config: Record<string, string>;
}

/** A topic id as kafka-topics.sh prints it: 16 bytes, URL-safe base64 without padding. */
export const TOPIC_ID = /^[A-Za-z0-9_-]{22}$/;

/** A topic as Kafka has it. */
export interface TopicState {
  name: string;
  /** Kafka's id of the topic; undefined when the client cannot read it. */
  topicId?: string;
  partitions: number;
  /** Replicas per partition (the largest, while a reassignment leaves them uneven). */
  replicationFactor: number;
  /** Only the configs set on the topic itself: broker and built-in defaults are left out. */
  config: Record<string, string>;
}

/** Manages topics on one Kafka cluster. Every method is safe to repeat. */
export interface TopicAdmin {
  /** The topics that exist among `names`; missing ones are absent from the map. */
  describe(names: string[]): Promise<Map<string, TopicState>>;
  /** Creates the topics; one that already exists is left as it is and is not an error. */
  create(specs: TopicSpec[]): Promise<void>;
  /** Grows the topic to `total` partitions; a topic that already has them is not an error. */
  increasePartitions(name: string, total: number): Promise<void>;
  /** Sets exactly these configs on the topic, leaving its other configs as they are. */
  alterConfig(name: string, config: Record<string, string>): Promise<void>;
  /** Deletes the topics; missing ones are not an error. */
  deleteTopics(names: string[]): Promise<void>;
  /** Round-trip time of a metadata request, in milliseconds. */
  ping(): Promise<number>;
  close(): Promise<void>;
}

/** `key=value, …`, for messages about topic configs. */
export function listConfig(config: Record<string, string>): string {
  return Object.entries(config)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');
}

/** A topic spec as error messages and logs name it. */
export function describeTopicSpec(spec: TopicSpec): string {
  return `topic ${spec.name} (partitions ${spec.partitions}, replication factor ${spec.replicationFactor}${Object.keys(spec.config).length > 0 ? `, ${listConfig(spec.config)}` : ''})`;
}

/**
 * Topic states from a metadata answer and a configs answer, which every adapter reads in
 * two requests: a topic deleted between them is missing from the configs and left out.
 */
export function joinTopicStates(
  layouts: Map<string, { partitions: number; replicationFactor: number; topicId?: string }>,
  configs: Map<string, Record<string, string>>,
): Map<string, TopicState> {
  const states = new Map<string, TopicState>();
  for (const [name, layout] of layouts) {
    const config = configs.get(name);
    if (config) states.set(name, { name, ...layout, config });
  }
  return states;
}

/** Condition reasons for topic changes Weir reports instead of making. */
export const UnsupportedTopicChange = {
  /** Kafka cannot remove partitions from a topic. */
  PartitionsDecrease: 'PartitionsDecrease',
  /** Changing replicas needs a partition reassignment, which Weir leaves to the Kafka operator. */
  ReplicationFactorChange: 'ReplicationFactorChange',
} as const;

/** What to do to make a topic match its spec. */
export type TopicPlan =
  | { action: 'create' }
  | { action: 'update'; increasePartitionsTo?: number; setConfig?: Record<string, string> }
  | { action: 'none' }
  | {
      action: 'unsupported';
      reason: (typeof UnsupportedTopicChange)[keyof typeof UnsupportedTopicChange];
      message: string;
    };

/**
 * Decides how to bring `current` to `desired`. Partitions only grow; a replication factor
 * change or a partition decrease is reported and nothing is changed, so that the user sees
 * the conflict instead of a half-applied spec. Every desired config whose value differs or
 * is missing is set back to the desired value; configs the spec does not mention are left
 * alone, as someone may have set them on purpose.
 */
export function planTopicChanges(desired: TopicSpec, current: TopicState | undefined): TopicPlan {
  if (current === undefined) return { action: 'create' };
  if (current.name !== desired.name)
    throw new TypeError(`cannot plan topic ${desired.name} from the state of topic ${current.name}`);
  // Reported before a partition decrease: that one the user can fix by raising
  // spec.partitions, this one not (the field is immutable), so it is the one to hear about.
  if (current.replicationFactor !== desired.replicationFactor) {
    return {
      action: 'unsupported',
      reason: UnsupportedTopicChange.ReplicationFactorChange,
      message: `topic ${desired.name} has replication factor ${current.replicationFactor}, the spec asks for ${desired.replicationFactor}: Weir does not reassign replicas`,
    };
  }
  if (current.partitions > desired.partitions) {
    return {
      action: 'unsupported',
      reason: UnsupportedTopicChange.PartitionsDecrease,
      message: `topic ${desired.name} has ${current.partitions} partitions, the spec asks for ${desired.partitions}: Kafka cannot remove partitions`,
    };
  }
  const plan: { action: 'update'; increasePartitionsTo?: number; setConfig?: Record<string, string> } = {
    action: 'update',
  };
  if (current.partitions < desired.partitions) plan.increasePartitionsTo = desired.partitions;
  const drifted = Object.entries(desired.config).filter(([key, value]) => current.config[key] !== value);
  if (drifted.length > 0) plan.setConfig = Object.fromEntries(drifted);
  return plan.increasePartitionsTo === undefined && plan.setConfig === undefined ? { action: 'none' } : plan;
}

/** Kafka could not be reached (refused, closed or silent connections); a later retry may succeed. */
export function kafkaUnavailable(message: string, cause?: unknown): WeirError {
  return weirError(Errors.KafkaUnavailable, message, { cause });
}

/** What a refusal by Kafka carries: the protocol's error name (such as INVALID_CONFIG) and the topic. */
export interface KafkaRefusal {
  kafkaCode: string;
  topic: string;
}

/** Kafka refused an operation on a topic. */
export function kafkaRefused(message: string, refusal: KafkaRefusal, cause?: unknown): WeirError {
  return weirError(Errors.KafkaRequestFailed, message, {
    cause,
    details: { kafkaCode: refusal.kafkaCode, topic: refusal.topic },
  });
}

/** The refusal an error of {@link kafkaRefused} carries, if it is one. */
export function refusalOf(err: unknown): KafkaRefusal | undefined {
  return hasCode(err, Errors.KafkaRequestFailed) ? (err.details as unknown as KafkaRefusal) : undefined;
}

/**
 * Kafka refusals that pass by themselves: a controller or leader moving, a request timing
 * out, a topic just created not yet known to every broker, throttling. Retrying after a
 * backoff helps; refusals of the request itself (an invalid config, a policy) do not.
 */
export const TRANSIENT_KAFKA_CODES: ReadonlySet<string> = new Set([
  'NOT_CONTROLLER',
  'REQUEST_TIMED_OUT',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_OR_FOLLOWER',
  'BROKER_NOT_AVAILABLE',
  'NETWORK_EXCEPTION',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'REASSIGNMENT_IN_PROGRESS',
  'THROTTLING_QUOTA_EXCEEDED',
  'KAFKA_STORAGE_ERROR',
]);

/** Whether `err` is Kafka unreachable, or a refusal that passes by itself: worth retrying soon. */
export function isTransientKafkaError(err: unknown): boolean {
  if (hasCode(err, Errors.KafkaUnavailable)) return true;
  const refusal = refusalOf(err);
  return refusal !== undefined && TRANSIENT_KAFKA_CODES.has(refusal.kafkaCode);
}

/**
 * Asks `seen` every 100 ms until it answers true or `timeoutMs` passed; resolves with its
 * last answer. Kafka's controller commits a change before the broker's metadata reflects it
 * (by milliseconds, longer on a busy machine or after a restart), so an adapter waits until
 * its change is visible before it returns: a describe right after a change then sees it.
 */
export async function untilSeen(seen: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await seen()) return true;
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
}
