/**
 * The records the processor writes about events it could not use: dead letters, which wait
 * for a person (and `redrive.ts`), and retries, which come back after a backoff. Both carry
 * the event exactly as it arrived on the input topic and say in headers where it came from
 * and why it is here. Pure functions.
 *
 * Headers of a dead letter:
 * - `weir-dlq-reason`: one of {@link DeadLetterReason}
 * - `weir-dlq-message`: what went wrong, for a person
 * - `weir-dlq-aggregation`: the aggregation that refused it, when one did (others may have counted it)
 * - `weir-source-topic`, `weir-source-partition`, `weir-source-offset`: where it was first read
 * - `weir-attempts`: how many times it was tried
 * - `weir-dead-lettered-at`: epoch ms
 *
 * Headers of a retry: `weir-retry-attempt` (1 for the first retry), `weir-retry-not-before`
 * (epoch ms), `weir-retry-reason`, and the `weir-source-*` headers of the first read.
 */
import type { ConsumedRecord } from '../../lib/kafka/consumer.ts';
import type { OutgoingRecord } from '../../lib/kafka/transaction.ts';

/** Why an event is in the dead-letter topic. */
export const DeadLetterReason = {
  /** The value is not JSON. */
  InvalidJson: 'InvalidJson',
  /** The value is JSON but not an object. */
  NotAnObject: 'NotAnObject',
  /** An aggregation found no usable event time. */
  InvalidEventTime: 'InvalidEventTime',
  /** Later than the allowed lateness of an aggregation's window. */
  TooLate: 'TooLate',
  /** A user-defined function threw or hit a limit on it. */
  FunctionFailed: 'FunctionFailed',
  /** An enrichment with onMiss DeadLetter found no record for the key. */
  EnrichmentMiss: 'EnrichmentMiss',
  /** A transient failure lasted through every retry. */
  RetriesExhausted: 'RetriesExhausted',
} as const;

export type DeadLetterReason = (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

export const Header = {
  reason: 'weir-dlq-reason',
  message: 'weir-dlq-message',
  aggregation: 'weir-dlq-aggregation',
  sourceTopic: 'weir-source-topic',
  sourcePartition: 'weir-source-partition',
  sourceOffset: 'weir-source-offset',
  attempts: 'weir-attempts',
  deadLetteredAt: 'weir-dead-lettered-at',
  retryAttempt: 'weir-retry-attempt',
  retryNotBefore: 'weir-retry-not-before',
  retryReason: 'weir-retry-reason',
  redrivenFrom: 'weir-redriven-from',
} as const;

/** Where a record was first read: its own position, or the one a retry carries along. */
export function sourceOf(record: ConsumedRecord): { topic: string; partition: number; offset: string } {
  const topic = record.headers[Header.sourceTopic];
  const partition = record.headers[Header.sourcePartition];
  const offset = record.headers[Header.sourceOffset];
  if (topic && partition && offset) return { topic, partition: Number(partition), offset };
  return { topic: record.topic, partition: record.partition, offset: record.offset };
}

/** How many times a record was retried already (0 for a record of the input topic). */
export function retryAttempt(record: ConsumedRecord): number {
  const n = Number(record.headers[Header.retryAttempt] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** When a retry record may be processed, epoch ms; 0 when at once. */
export function notBefore(record: ConsumedRecord): number {
  const t = Number(record.headers[Header.retryNotBefore] ?? 0);
  return Number.isFinite(t) ? t : 0;
}

function sourceHeaders(record: ConsumedRecord): Record<string, string> {
  const s = sourceOf(record);
  return {
    [Header.sourceTopic]: s.topic,
    [Header.sourcePartition]: String(s.partition),
    [Header.sourceOffset]: s.offset,
  };
}

/** A dead letter for `record`, in the partition of its source so that a re-drive keeps it with its kin. */
export function deadLetter(
  topic: string,
  record: ConsumedRecord,
  why: { reason: DeadLetterReason; message: string; aggregation?: string },
  now: number,
): OutgoingRecord {
  const headers: Record<string, string> = {
    [Header.reason]: why.reason,
    // A header is kept short: the event itself is the value.
    [Header.message]: why.message.slice(0, 1024),
    ...sourceHeaders(record),
    [Header.attempts]: String(retryAttempt(record) + 1),
    [Header.deadLetteredAt]: String(now),
  };
  if (why.aggregation) headers[Header.aggregation] = why.aggregation;
  return { topic, partition: sourceOf(record).partition, key: record.key, value: record.value, headers };
}

/** Backoff settings, in milliseconds. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  multiplier: number;
}

/** The delay before retry `attempt` (1 for the first): initial × multiplier^(attempt−1), at most max. */
export function backoffMs(backoff: Backoff, attempt: number): number {
  return Math.min(backoff.maxMs, Math.round(backoff.initialMs * backoff.multiplier ** (attempt - 1)));
}

/** The next retry of `record`, or undefined when its retries are used up. */
export function retryOf(
  topic: string,
  record: ConsumedRecord,
  reason: string,
  policy: { maxRetries: number; backoff: Backoff },
  now: number,
): OutgoingRecord | undefined {
  const attempt = retryAttempt(record) + 1;
  if (attempt > policy.maxRetries) return undefined;
  return {
    topic,
    partition: sourceOf(record).partition,
    key: record.key,
    value: record.value,
    headers: {
      ...sourceHeaders(record),
      [Header.retryAttempt]: String(attempt),
      [Header.retryNotBefore]: String(now + backoffMs(policy.backoff, attempt)),
      [Header.retryReason]: reason.slice(0, 1024),
    },
  };
}

/** Reasons a re-drive takes unless told otherwise: the rest would fail the same way again. */
export const REDRIVABLE: readonly DeadLetterReason[] = [
  DeadLetterReason.RetriesExhausted,
  DeadLetterReason.EnrichmentMiss,
  DeadLetterReason.FunctionFailed,
];

/**
 * A dead letter sent back through the retry topic, due at once, with a fresh set of
 * retries, to the partition it came from; `weir-redriven-from` says which dead letter it was.
 */
export function redriven(retryTopic: string, dead: ConsumedRecord, now: number): OutgoingRecord {
  const source = sourceOf(dead);
  return {
    topic: retryTopic,
    partition: source.partition,
    key: dead.key,
    value: dead.value,
    headers: {
      [Header.sourceTopic]: source.topic,
      [Header.sourcePartition]: String(source.partition),
      [Header.sourceOffset]: source.offset,
      [Header.retryAttempt]: '0',
      [Header.retryNotBefore]: String(now),
      [Header.redrivenFrom]: `${dead.topic}:${dead.partition}:${dead.offset}`,
    },
  };
}
