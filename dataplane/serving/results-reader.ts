/**
 * Reads the results the processor materializes, exactly as lib/platform/results.ts lays
 * them out: current windows from the tenant's Redis hashes, listed through the group index
 * ZSET, and closed windows from the pipeline's table in the tenant's schema. Every key and
 * table name is built from the served pipeline — its tenant, name and aggregation from the
 * watched resources — and a group key checked by group-key.ts; nothing else a client sends
 * reaches a key or an identifier.
 *
 * The reads are batched: any number of requests costs two Redis round trips for listings,
 * one for single windows, and one Postgres query per results table, so GraphQL's loaders
 * answer N fields with a bounded number of backend calls. `onCall` counts the round trips.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import {
  currentResultKey,
  groupIndexKey,
  qualifiedTable,
  type MeasureValue,
  type ResultRow,
  type WindowResult,
} from '../../lib/platform/results.ts';
import type { CurrentCursor, HistoryCursor } from './page-cursor.ts';
import type { ServedAggregation, ServedPipeline } from './serving-table.ts';

/** A page of windows and, when there is more, where the next page starts. */
export interface Page<C> {
  items: WindowResult[];
  next: C | undefined;
}

/** One listing of current windows. */
export interface CurrentListing {
  pipeline: ServedPipeline;
  aggregation: ServedAggregation;
  limit: number;
  after?: CurrentCursor | undefined;
}

/** One current window, by group key. */
export interface CurrentLookup {
  pipeline: ServedPipeline;
  aggregation: ServedAggregation;
  groupKey: string;
}

/** One listing of closed windows with `from <= windowStart < to` (epoch ms). */
export interface HistoryListing {
  pipeline: ServedPipeline;
  aggregation: ServedAggregation;
  from: number;
  to: number;
  groupKey?: string | undefined;
  limit: number;
  after?: HistoryCursor | undefined;
}

/** The backends a round trip went to. */
export type Backend = 'redis' | 'postgres';

/** A result hash as the Redis sink writes it, or undefined for an empty (expired) one. */
export function resultFromHash(hash: Record<string, string>): WindowResult | undefined {
  if (hash.windowStart === undefined) return undefined;
  const measures: Record<string, MeasureValue> = {};
  for (const [field, value] of Object.entries(hash))
    if (field.startsWith('m:')) measures[field.slice(2)] = JSON.parse(value) as MeasureValue;
  return {
    aggregation: hash.aggregation ?? '',
    groupKey: hash.groupKey ?? '',
    group: JSON.parse(hash.group ?? '{}') as Record<string, unknown>,
    windowStart: Number(hash.windowStart),
    windowEnd: Number(hash.windowEnd),
    measures,
    events: Number(hash.events),
    revision: Number(hash.revision),
    final: hash.final === 'true',
    updatedAt: Number(hash.updatedAt),
  };
}

/** A results-table row as a window result: rows are closed windows, so final. */
export function resultFromRow(row: ResultRow): WindowResult {
  return {
    aggregation: row.aggregation,
    groupKey: row.group_key,
    group: row.group_values,
    windowStart: row.window_start.getTime(),
    windowEnd: row.window_end.getTime(),
    measures: row.measures,
    events: Number(row.events),
    revision: Number(row.revision),
    final: true,
    updatedAt: row.updated_at.getTime(),
  };
}

/** NotFound for a read of what the pipeline's sinks do not keep. */
export const notKept = (pipeline: ServedPipeline, what: string, sink: string) =>
  weirError(Errors.NotFound, `pipeline ${pipeline.key} keeps no ${what} (spec.sinks.${sink} is not set)`);

/** Batched reads of current and closed windows. */
export class ResultsReader {
  readonly #redis: Redis;
  readonly #postgres: pg.Pool;
  readonly #onCall: (backend: Backend) => void;

  constructor(options: { redis: Redis; postgres: pg.Pool; onCall?: (backend: Backend) => void }) {
    this.#redis = options.redis;
    this.#postgres = options.postgres;
    this.#onCall = options.onCall ?? (() => undefined);
  }

  async #exec(commands: (batch: ReturnType<Redis['pipeline']>) => void): Promise<unknown[]> {
    const batch = this.#redis.pipeline();
    commands(batch);
    this.#onCall('redis');
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await batch.exec();
    } catch (err) {
      throw weirError(Errors.RedisUnavailable, 'Redis did not answer the read', { cause: err });
    }
    return (replies ?? []).map(([err, value]) => {
      if (err) throw weirError(Errors.RedisUnavailable, 'Redis refused the read', { cause: err });
      return value;
    });
  }

  /** Pages of current windows, oldest update first; two Redis round trips for any number of listings. */
  async current(listings: readonly CurrentListing[]): Promise<Page<CurrentCursor>[]> {
    for (const l of listings) if (!l.pipeline.current) throw notKept(l.pipeline, 'current windows', 'redis');
    if (!listings.length) return [];
    const ranges = (await this.#exec((batch) => {
      for (const { pipeline, aggregation, limit, after } of listings)
        batch.zrange(
          groupIndexKey(pipeline.tenant.name, pipeline.name, aggregation.name),
          after ? String(after.score) : '-inf',
          '+inf',
          'BYSCORE',
          'LIMIT',
          after?.skip ?? 0,
          limit + 1,
          'WITHSCORES',
        );
    })) as string[][];
    const pages = listings.map((l, i) => {
      const flat = ranges[i]!;
      const entries: { member: string; score: number }[] = [];
      for (let j = 0; j < flat.length; j += 2) entries.push({ member: flat[j]!, score: Number(flat[j + 1]) });
      const shown = entries.slice(0, l.limit);
      let next: CurrentCursor | undefined;
      if (entries.length > l.limit) {
        const score = shown.at(-1)!.score;
        const same = shown.filter((e) => e.score === score).length;
        const skip = same + (l.after && l.after.score === score ? l.after.skip : 0);
        next = { kind: 'current', aggregation: l.aggregation.name, score, skip };
      }
      return { listing: l, members: shown.map((e) => e.member), next };
    });
    const lookups = pages.flatMap((p) =>
      p.members.map((groupKey) => ({ pipeline: p.listing.pipeline, aggregation: p.listing.aggregation, groupKey })),
    );
    const windows = lookups.length ? await this.windows(lookups) : [];
    let at = 0;
    return pages.map((p) => {
      const items = windows.slice(at, (at += p.members.length)).filter((w): w is WindowResult => w !== undefined);
      return { items, next: p.next };
    });
  }

  /** Current windows by group key (undefined where there is none); one Redis round trip. */
  async windows(lookups: readonly CurrentLookup[]): Promise<(WindowResult | undefined)[]> {
    for (const l of lookups) if (!l.pipeline.current) throw notKept(l.pipeline, 'current windows', 'redis');
    if (!lookups.length) return [];
    const key = ({ pipeline, aggregation, groupKey }: CurrentLookup) =>
      currentResultKey(pipeline.tenant.name, pipeline.name, aggregation.name, groupKey);
    if (lookups.length === 1) {
      // A lone read goes out as a command, which auto-pipelining writes together with other requests' reads.
      this.#onCall('redis');
      try {
        return [resultFromHash(await this.#redis.hgetall(key(lookups[0]!)))];
      } catch (err) {
        throw weirError(Errors.RedisUnavailable, 'Redis did not answer the read', { cause: err });
      }
    }
    const hashes = (await this.#exec((batch) => {
      for (const l of lookups) batch.hgetall(key(l));
    })) as Record<string, string>[];
    return hashes.map(resultFromHash);
  }

  /** Pages of closed windows by window start, then group key; one Postgres query per results table. */
  async history(listings: readonly HistoryListing[]): Promise<Page<HistoryCursor>[]> {
    const byTable = new Map<string, number[]>();
    listings.forEach((l, i) => {
      if (!l.pipeline.history) throw notKept(l.pipeline, 'history of closed windows', 'postgres');
      const table = qualifiedTable(l.pipeline.history.schema, l.pipeline.history.table);
      byTable.set(table, [...(byTable.get(table) ?? []), i]);
    });
    const pages: Page<HistoryCursor>[] = listings.map(() => ({ items: [], next: undefined }));
    await Promise.all(
      [...byTable].map(async ([table, indexes]) => {
        const rows = await this.#historyQuery(
          table,
          indexes.map((i) => listings[i]!),
        );
        const found = new Map<number, WindowResult[]>();
        for (const row of rows) found.set(row.q, [...(found.get(row.q) ?? []), resultFromRow(row)]);
        indexes.forEach((i, q) => {
          const l = listings[i]!;
          const all = found.get(q) ?? [];
          const items = all.slice(0, l.limit);
          const last = items.at(-1);
          pages[i] = {
            items,
            next:
              all.length > l.limit && last
                ? {
                    kind: 'history',
                    aggregation: l.aggregation.name,
                    windowStart: last.windowStart,
                    groupKey: last.groupKey,
                  }
                : undefined,
          };
        });
      }),
    );
    return pages;
  }

  async #historyQuery(table: string, listings: HistoryListing[]): Promise<(ResultRow & { q: number })[]> {
    const column = <T>(fn: (l: HistoryListing, i: number) => T) => listings.map(fn);
    this.#onCall('postgres');
    try {
      // One statement for every listing on this table: each is a row of parameters, joined laterally.
      const result = await this.#postgres.query<ResultRow & { q: number }>(
        `SELECT q.q, r.* FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[],
                                     $6::timestamptz[], $7::text[], $8::int[])
                AS q(q, aggregation, from_ts, to_ts, group_key, after_start, after_key, lim)
         CROSS JOIN LATERAL (
           SELECT t.aggregation, t.group_key, t.group_values, t.window_start, t.window_end, t.measures,
                  t.events, t.revision, t.updated_at
             FROM ${table} t
            WHERE t.aggregation = q.aggregation AND t.window_start >= q.from_ts AND t.window_start < q.to_ts
              AND (q.group_key IS NULL OR t.group_key = q.group_key)
              AND (q.after_start IS NULL OR (t.window_start, t.group_key) > (q.after_start, q.after_key))
            ORDER BY t.window_start, t.group_key
            LIMIT q.lim) r
         ORDER BY q.q, r.window_start, r.group_key`,
        [
          column((_, i) => i),
          column((l) => l.aggregation.name),
          column((l) => new Date(l.from)),
          column((l) => new Date(l.to)),
          column((l) => l.groupKey ?? null),
          column((l) => (l.after ? new Date(l.after.windowStart) : null)),
          column((l) => l.after?.groupKey ?? null),
          column((l) => l.limit + 1),
        ],
      );
      return result.rows;
    } catch (err) {
      // No window has closed yet: the processor creates the table with its first closed window.
      if ((err as { code?: string }).code === '42P01') return [];
      throw weirError(Errors.PostgresUnavailable, 'Postgres did not answer the read', { cause: err });
    }
  }
}
