/**
 * An accepted event as the Kafka record the processor reads: the event's JSON as the
 * value; as the key, the value at the pipeline's partition key (`spec.source.partitionKey`,
 * a JSON pointer) or the tenant's name when the pipeline has none; and headers that say
 * whose event it is and where it came from.
 */
import type { ProducerRecord } from '../../lib/kafka/producer.ts';
import type { EventProblem, ParsedEvent } from './request-body.ts';

/** Header names of every record the gateway writes. */
export const EVENT_HEADERS = {
  tenant: 'weir-tenant',
  pipeline: 'weir-pipeline',
  eventId: 'weir-event-id',
  schemaVersion: 'weir-schema-version',
  idempotencyKey: 'weir-idempotency-key',
  receivedAt: 'weir-received-at',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  contentType: 'content-type',
} as const;

/** The value a JSON pointer (RFC 6901) points at, or undefined if there is none. */
export function resolvePointer(value: unknown, pointer: string): unknown {
  if (pointer === '') return value;
  let current: unknown = value;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
      current = current[Number(token)];
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return current;
}

/** The partition key of an event: the pointed-at value as text (strings as they are, others as JSON). */
export function partitionKey(
  event: Record<string, unknown>,
  pointer: string | undefined,
  tenant: string,
): { key: Buffer } | { problem: Omit<EventProblem, 'pointer'> & { pointer: string } } {
  if (pointer === undefined) return { key: Buffer.from(tenant) };
  const value = resolvePointer(event, pointer);
  if (value === undefined || value === null)
    return { problem: { pointer, message: "is missing: it is the pipeline's partition key" } };
  if (typeof value === 'object')
    return { problem: { pointer, message: "must be a string, number or boolean: it is the pipeline's partition key" } };
  return { key: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)) };
}

/** What every record of one request shares. */
export interface RecordContext {
  topic: string;
  tenant: string;
  /** `namespace/name`. */
  pipeline: string;
  schemaVersion: number | undefined;
  idempotencyKey: string | undefined;
  traceparent: string;
  tracestate: string | undefined;
  receivedAt: number;
}

/** The Kafka record of one event. */
export function eventRecord(event: ParsedEvent, key: Buffer, id: string, ctx: RecordContext): ProducerRecord {
  const headers: Record<string, string> = {
    [EVENT_HEADERS.tenant]: ctx.tenant,
    [EVENT_HEADERS.pipeline]: ctx.pipeline,
    [EVENT_HEADERS.eventId]: id,
    [EVENT_HEADERS.receivedAt]: new Date(ctx.receivedAt).toISOString(),
    [EVENT_HEADERS.traceparent]: ctx.traceparent,
    [EVENT_HEADERS.contentType]: 'application/json',
  };
  if (ctx.schemaVersion !== undefined) headers[EVENT_HEADERS.schemaVersion] = String(ctx.schemaVersion);
  if (ctx.idempotencyKey !== undefined) headers[EVENT_HEADERS.idempotencyKey] = ctx.idempotencyKey;
  if (ctx.tracestate !== undefined) headers[EVENT_HEADERS.tracestate] = ctx.tracestate;
  return { topic: ctx.topic, key, value: event.json, headers };
}
