/**
 * W3C Trace Context (`traceparent`, `tracestate`) for events: a request's trace continues
 * through the gateway into the event's Kafka headers, so the processor and serving can
 * continue it too. The gateway is one span of the trace: it keeps the caller's trace id and
 * flags and names a span id of its own as the parent of what comes next.
 */
import { randomBytes } from 'node:crypto';

/** A parsed `traceparent`: version 00, trace id, parent span id and flags. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ALL_ZERO = /^0+$/;

/** The traceparent if it is well formed (all-zero ids are invalid by the spec). */
export function parseTraceParent(header: string | undefined): TraceParent | undefined {
  const match = header ? TRACEPARENT.exec(header.trim()) : null;
  if (!match || ALL_ZERO.test(match[1]!) || ALL_ZERO.test(match[2]!)) return undefined;
  return { traceId: match[1]!, spanId: match[2]!, flags: match[3]! };
}

/** The traceparent of this hop: the caller's trace with a new span id, or a new trace (not sampled) if it sent none. */
export function continueTrace(header: string | undefined): string {
  const parent = parseTraceParent(header);
  const spanId = randomBytes(8).toString('hex');
  if (parent) return `00-${parent.traceId}-${spanId}-${parent.flags}`;
  return `00-${randomBytes(16).toString('hex')}-${spanId}-00`;
}

/** A `tracestate` worth passing on: at most 512 characters of list members, as the spec lets a hop truncate. */
export function passTraceState(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (trimmed.length === 0 || trimmed.length > 512 || /[^\x20-\x7e]/.test(trimmed)) return undefined;
  return trimmed;
}
