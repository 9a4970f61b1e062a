/**
 * The pieces of Flink SQL text the translator writes from a tenant's spec: quoted
 * identifiers, string literals, interval literals and JSON paths. Everything that comes
 * from a spec reaches the SQL through one of these, so no field can end a literal or an
 * identifier and write SQL of its own.
 */

/** A back-quoted identifier; a back quote inside is doubled, as Flink's parser reads it. */
export function identifier(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`';
}

/** A string literal; a quote inside is doubled (Flink SQL gives backslashes no meaning). */
export function literal(value: string): string {
  return "'" + value.replaceAll("'", "''") + "'";
}

const DURATION_PART = /([0-9]+(?:[.][0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a spec duration such as `500ms`, `1.5s` or `1h30m`; undefined if it is not one. */
export function durationMs(duration: string): number | undefined {
  if (!/^([0-9]+([.][0-9]+)?(ms|s|m|h))+$/.test(duration)) return undefined;
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(DURATION_PART)) total += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(total);
}

/** The longest interval an INTERVAL ... DAY TO SECOND(3) literal holds: 99 days. */
export const MAX_INTERVAL_MS = 100 * 86_400_000 - 1;

/** An interval literal of whole milliseconds, such as INTERVAL '0 00:00:05.000' DAY TO SECOND(3). */
export function interval(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_INTERVAL_MS) throw new RangeError(`no interval literal for ${ms} ms`);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const days = Math.floor(ms / 86_400_000);
  const hours = Math.floor(ms / 3_600_000) % 24;
  const minutes = Math.floor(ms / 60_000) % 60;
  const seconds = Math.floor(ms / 1000) % 60;
  return `INTERVAL '${days} ${pad(hours)}:${pad(minutes)}:${pad(seconds)}.${pad(ms % 1000, 3)}' DAY TO SECOND(3)`;
}

/** The reference tokens of a JSON pointer (RFC 6901), unescaped. */
export function pointerTokens(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/**
 * The JSON path (as JSON_VALUE reads it) of a JSON pointer, as a SQL string literal. Names
 * go in bracket notation with their quotes and backslashes escaped; a token of digits only
 * indexes an array, as a pointer does on an array.
 */
export function jsonPath(pointer: string): string {
  const steps = pointerTokens(pointer).map((token) =>
    /^(0|[1-9][0-9]{0,8})$/.test(token) ? `[${token}]` : `['${token.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}']`,
  );
  return literal('$' + steps.join(''));
}
