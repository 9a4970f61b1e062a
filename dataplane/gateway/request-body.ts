/**
 * Events out of a request body: one JSON object, a JSON array of them, or NDJSON (one per
 * line), chosen by the content type. Hostile bodies are refused before they cost much:
 * nesting deeper than the limit is found by one scan of the bytes before anything is
 * parsed (a deep document costs the parser and everything after it), and a batch may hold
 * a bounded number of events. Every problem names where it is as a JSON pointer into the
 * body (`/3` is the fourth event of a batch).
 */
import { Errors, weirError, type WeirError } from '../../lib/errors/errors.ts';
import type { EventProblem } from '../../lib/schema/event-schema.ts';

/** The body formats the gateway reads. */
export type BodyFormat = 'json' | 'ndjson' | 'protobuf';

/** One problem with a request's events: a JSON pointer from the body's root (`/2/user/id`) and what is wrong. */
export type { EventProblem };

/** An event as parsed, with the bytes it is written to Kafka as. */
export interface ParsedEvent {
  value: Record<string, unknown>;
  json: Buffer;
}

/** Limits on one body. */
export interface BodyLimits {
  maxEvents: number;
  maxDepth: number;
}

/** The format a Content-Type names, or undefined for one the gateway does not read. */
export function bodyFormat(contentType: string | undefined): BodyFormat | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/"/g, '');
  if (charset && charset !== 'utf-8' && charset !== 'utf8') return undefined;
  if (type === 'application/json' || (type?.startsWith('application/') && type.endsWith('+json'))) return 'json';
  if (type === 'application/x-ndjson' || type === 'application/jsonl' || type === 'application/x-jsonlines')
    return 'ndjson';
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  return undefined;
}

/** An InvalidEvent error carrying every problem. */
export function invalidEvents(problems: EventProblem[], summary?: string): WeirError {
  const first = problems[0]!;
  return weirError(
    Errors.InvalidEvent,
    summary ??
      `${problems.length} problem${problems.length === 1 ? '' : 's'}: ${first.pointer || '(root)'} ${first.message}`,
    { details: { errors: problems } },
  );
}

/**
 * The deepest nesting of arrays and objects in a JSON text, counted without parsing; stops
 * counting once past `limit`. Brackets inside strings do not count.
 */
export function nestingDepth(text: Buffer, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

function parse(text: Buffer, pointer: string): unknown {
  try {
    return JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw invalidEvents([{ pointer, message: `is not valid JSON: ${(err as Error).message}` }]);
  }
}

const tooDeep = (pointer: string, limit: number) =>
  invalidEvents([{ pointer, message: `nests deeper than ${limit} levels` }]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Events of a JSON body: an object is one event, an array a batch of them (one level deeper). */
export function parseJsonBody(body: Buffer, limits: BodyLimits): { events: ParsedEvent[]; batch: boolean } {
  const depth = nestingDepth(body, limits.maxDepth + 1);
  if (depth > limits.maxDepth + 1) throw tooDeep('', limits.maxDepth);
  const parsed = parse(body, '');
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw invalidEvents([{ pointer: '', message: 'is an empty batch' }]);
    if (parsed.length > limits.maxEvents)
      throw invalidEvents([
        { pointer: '', message: `holds ${parsed.length} events; a batch may hold ${limits.maxEvents}` },
      ]);
    const problems: EventProblem[] = [];
    parsed.forEach((v, i) => {
      if (!isObject(v)) problems.push({ pointer: `/${i}`, message: 'must be a JSON object' });
    });
    if (problems.length) throw invalidEvents(problems);
    return {
      events: (parsed as Record<string, unknown>[]).map((value) => ({
        value,
        json: Buffer.from(JSON.stringify(value)),
      })),
      batch: true,
    };
  }
  if (!isObject(parsed)) throw invalidEvents([{ pointer: '', message: 'must be a JSON object or an array of them' }]);
  if (depth > limits.maxDepth) throw tooDeep('', limits.maxDepth);
  return { events: [{ value: parsed, json: body }], batch: false };
}

/** Events of an NDJSON body, one per non-empty line; pointers count the events. */
export function parseNdjsonBody(body: Buffer, limits: BodyLimits): { events: ParsedEvent[]; batch: boolean } {
  const events: ParsedEvent[] = [];
  const problems: EventProblem[] = [];
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf(0x0a, start);
    if (end < 0) end = body.length;
    const line = body.subarray(start, end);
    start = end + 1;
    const trimmed = line.toString('utf8').trim();
    if (trimmed === '') continue;
    const pointer = `/${events.length + problems.length}`;
    if (events.length + problems.length >= limits.maxEvents)
      throw invalidEvents([{ pointer: '', message: `holds more than ${limits.maxEvents} events` }]);
    if (nestingDepth(line, limits.maxDepth) > limits.maxDepth) {
      problems.push({ pointer, message: `nests deeper than ${limits.maxDepth} levels` });
      continue;
    }
    try {
      const value = parse(line, pointer);
      if (isObject(value)) events.push({ value, json: Buffer.from(trimmed) });
      else problems.push({ pointer, message: 'must be a JSON object' });
    } catch (err) {
      problems.push(...((err as WeirError).details?.errors as EventProblem[]));
    }
  }
  if (problems.length) throw invalidEvents(problems);
  if (events.length === 0) throw invalidEvents([{ pointer: '', message: 'holds no events' }]);
  return { events, batch: true };
}
