/**
 * Opaque page cursors: what the next page starts after, bound to the aggregation and the
 * kind of listing it came from, as base64url JSON. A cursor is no secret — every read is
 * confined to the caller's tenant whatever it says — but one that does not decode, or
 * comes from another listing, is refused naming the parameter.
 */
import { Errors, weirError } from '../../lib/errors/errors.ts';

/** Where a listing of current windows goes on: after `n` entries of score `s` in the group index. */
export interface CurrentCursor {
  kind: 'current';
  aggregation: string;
  score: number;
  skip: number;
}

/** Where a history listing goes on: after the row (`windowStart`, `groupKey`). */
export interface HistoryCursor {
  kind: 'history';
  aggregation: string;
  windowStart: number;
  groupKey: string;
}

export type PageCursor = CurrentCursor | HistoryCursor;

/** The cursor as the client sees it. */
export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** The cursor a client sent back, checked against the listing it is used for. */
export function decodeCursor<K extends PageCursor['kind']>(
  raw: string,
  kind: K,
  aggregation: string,
  parameter = 'cursor',
): Extract<PageCursor, { kind: K }> {
  const bad = (why: string) =>
    weirError(Errors.InvalidRequest, `${parameter} ${why}`, {
      details: { errors: [{ parameter, message: why }] },
    });
  if (raw.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw bad('is not a cursor this API gave out');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad('is not a cursor this API gave out');
  }
  const c = value as {
    kind?: unknown;
    aggregation?: unknown;
    score?: number;
    skip?: number;
    windowStart?: number;
    groupKey?: unknown;
  } | null;
  if (!c || typeof c !== 'object' || c.kind !== kind) throw bad(`is not a cursor of a ${kind} listing`);
  if (c.aggregation !== aggregation) throw bad(`belongs to another aggregation than ${aggregation}`);
  const ok =
    kind === 'current'
      ? Number.isFinite(c.score) && Number.isInteger(c.skip) && (c.skip ?? -1) >= 0
      : Number.isFinite(c.windowStart) && typeof c.groupKey === 'string';
  if (!ok) throw bad('is not a cursor this API gave out');
  return c as unknown as Extract<PageCursor, { kind: K }>;
}
