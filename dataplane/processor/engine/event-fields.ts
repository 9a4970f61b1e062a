/**
 * Reading the fields an aggregation needs from a parsed event: values at JSON pointers
 * (RFC 6901), the event time, and the group key. Pure functions, no state.
 */

/** The pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`). */
export function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new TypeError(`not a JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** A compiled pointer: reading through it costs no parsing per event. */
export type FieldReader = (event: unknown) => unknown;

/** A reader for the value at `pointer`, or undefined where the event has none. */
export function fieldReader(pointer: string): FieldReader {
  const tokens = pointerTokens(pointer);
  return (event) => {
    let at: unknown = event;
    for (const token of tokens) {
      if (at === null || typeof at !== 'object') return undefined;
      if (Array.isArray(at)) {
        if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
        at = at[Number(token)];
      } else {
        if (!Object.hasOwn(at, token)) return undefined;
        at = (at as Record<string, unknown>)[token];
      }
    }
    return at;
  };
}

/** Writes `value` at `pointer`, creating objects on the way; refuses to walk through non-objects. */
export function writeField(event: Record<string, unknown>, pointer: string, value: unknown): boolean {
  const tokens = pointerTokens(pointer);
  let at: Record<string, unknown> = event;
  for (const [i, token] of tokens.entries()) {
    if (token === '__proto__') return false;
    if (i === tokens.length - 1) {
      at[token] = value;
      return true;
    }
    const next = at[token];
    if (next === undefined) at = at[token] = {};
    else if (next !== null && typeof next === 'object' && !Array.isArray(next)) at = next as Record<string, unknown>;
    else return false;
  }
  return false;
}

/** RFC 3339 with a time zone, as the API documents event times. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Milliseconds since the epoch of an event-time value: an RFC 3339 string or epoch
 * milliseconds. Anything else is undefined, and the caller says why the event is refused.
 */
export function eventTimeMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.floor(value) : undefined;
  if (typeof value !== 'string' || !RFC3339.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A number a numeric measure can use; strings and booleans are not numbers. */
export function numericValue(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The group of an event: the values at the groupBy pointers, and their canonical text. */
export interface Group {
  /** JSON of the values in groupBy order, such as `["u1","eu"]`; `[]` without groupBy. */
  key: string;
  /** The values by pointer, as results report them. */
  values: Record<string, unknown>;
}

/** A group whose values are rebuilt from its key only when asked for: most events join a window that has them. */
class KeyedGroup implements Group {
  readonly key: string;
  readonly #pointers: readonly string[];
  #values: Record<string, unknown> | undefined;

  constructor(key: string, pointers: readonly string[]) {
    this.key = key;
    this.#pointers = pointers;
  }

  get values(): Record<string, unknown> {
    if (!this.#values) {
      const list = JSON.parse(this.key) as unknown[];
      this.#values = Object.fromEntries(this.#pointers.map((p, i) => [p, list[i]]));
    }
    return this.#values;
  }
}

/** Builds the group of events from the groupBy pointers; a missing field groups as null. */
export function groupReader(pointers: readonly string[]): (event: unknown) => Group {
  const readers = pointers.map(fieldReader);
  return (event) => {
    const list: unknown[] = [];
    for (const read of readers) {
      const raw = read(event);
      // Objects and arrays group by their JSON; undefined has none, and groups with null.
      list.push(raw === undefined ? null : raw);
    }
    return new KeyedGroup(JSON.stringify(list), pointers);
  };
}
