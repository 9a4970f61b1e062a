/**
 * The parameters every serving API takes, checked once for all three: page sizes, times and
 * the pieces of a history range. A bad value is an InvalidRequest naming the parameter, with
 * `errors: [{parameter, message}]` for programs.
 */
import { Errors, weirError, type WeirError } from '../../lib/errors/errors.ts';

/** Default span of a history query without `from`. */
export const DEFAULT_HISTORY_SPAN_MS = 24 * 3_600_000;

/** An InvalidRequest about one parameter. */
export function badParameter(parameter: string, message: string): WeirError {
  return weirError(Errors.InvalidRequest, `${parameter} ${message}`, { details: { errors: [{ parameter, message }] } });
}

/** A time as epoch milliseconds or RFC 3339, as epoch ms. */
export function parseTime(raw: string, parameter: string): number {
  const ms = /^-?\d{1,15}$/.test(raw)
    ? Number(raw)
    : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(raw)
      ? Date.parse(raw)
      : NaN;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15)
    throw badParameter(parameter, 'must be epoch milliseconds or an RFC 3339 time such as 2030-01-01T00:00:00Z');
  return ms;
}

/** The [from, to) range of a history query: `to` defaults to now, `from` to a day before `to`. */
export function historyRange(from: string | undefined, to: string | undefined, now: number): [number, number] {
  const end = to === undefined ? now : parseTime(to, 'to');
  const start = from === undefined ? end - DEFAULT_HISTORY_SPAN_MS : parseTime(from, 'from');
  if (start >= end) throw badParameter('from', 'must be before to');
  return [start, end];
}

/** A page size from 1 to `max`. */
export function pageLimit(value: number | undefined, max: number, fallback: number, parameter = 'limit'): number {
  if (value === undefined) return Math.min(fallback, max);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw badParameter(parameter, `must be an integer from 1 to ${max}`);
  return value;
}
