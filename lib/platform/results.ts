/**
 * Where and how the processor stores aggregation results, for the processor that writes
 * them and for serving, which reads exactly this. One record shape, {@link WindowResult},
 * goes to three places:
 *
 * **Redis** (`sinks.redis`), under the tenant's prefix `tenant:<tenant>:` (the tenant's ACL
 * user can reach nothing else):
 * - {@link currentResultKey} `tenant:<tenant>:results:<pipeline>:<aggregation>:<groupKey>` —
 *   a HASH per group key holding that group's current window, the one with the latest
 *   start: fields `aggregation`, `groupKey`, `group` (JSON object of the groupBy values by
 *   pointer), `windowStart` and `windowEnd` (epoch ms, the window is [start, end)), `events`,
 *   `revision`, `final` (`true` once the watermark passed the window's end), `updatedAt`
 *   (epoch ms), and one field `m:<measure>` per measure holding its value as JSON. It
 *   expires `sinks.redis.ttl` after its last write. A correction of an older window never
 *   replaces a newer one; within a window, a lower revision never replaces a higher one.
 * - {@link groupIndexKey} `tenant:<tenant>:groups:<pipeline>:<aggregation>` — a ZSET of the
 *   group keys written within the ttl, scored by `updatedAt`, so that serving lists groups
 *   without SCAN (which tenants may not run).
 * - {@link updatesChannel} `tenant:<tenant>:updates:<pipeline>:<aggregation>` — a pub/sub
 *   channel with one {@link ResultUpdate} JSON message for every result written (current
 *   and corrected windows alike) and every retraction.
 *
 * **Postgres** (`sinks.postgres`): closed windows, upserted into the table named there, in
 * the tenant's schema, shaped as {@link resultTableSql} (one row per aggregation, group key
 * and window start; partitioned by day of `window_start`, with partitions named by
 * {@link resultPartitionName}). A row is replaced only by a higher or equal revision.
 *
 * **The output topic** (`sinks.topic`): one {@link ResultUpdate} JSON per closed window and
 * per correction or retraction of one, keyed `<aggregation>:<groupKey>`, written in the same
 * Kafka transaction as the input offsets, so a `read_committed` consumer sees each once.
 *
 * A revision counts a window's committed changes: every write of a window carries a
 * higher revision than the last, and a replay after a crash rewrites the same revision.
 */
import { createHash } from 'node:crypto';

/** A measure's value: a number (null for no values), percentiles by `p<q>`, or a Function's JSON result. */
export type MeasureValue = number | null | { [percentile: string]: number | null } | unknown;

/** The result of one window of one aggregation for one group. */
export interface WindowResult {
  aggregation: string;
  /** JSON array of the groupBy values in spec order, such as `["u1","eu"]`; `[]` without groupBy. */
  groupKey: string;
  /** The groupBy values by JSON pointer, such as `{"/user/id": "u1"}`. */
  group: Record<string, unknown>;
  /** Start of the window, epoch ms (inclusive). */
  windowStart: number;
  /** End of the window, epoch ms (exclusive). */
  windowEnd: number;
  /** Measure values by measure name. */
  measures: Record<string, MeasureValue>;
  /** Events the window counted. */
  events: number;
  /** Increases with every committed change of the window. */
  revision: number;
  /** True once the watermark passed the window's end: later changes are corrections by late events. */
  final: boolean;
  /** When the processor wrote it, epoch ms. */
  updatedAt: number;
}

/** A session window that merged into another: its earlier result no longer holds. */
export interface WindowRetraction {
  aggregation: string;
  groupKey: string;
  windowStart: number;
  windowEnd: number;
  revision: number;
  updatedAt: number;
}

/** What the channel and the output topic carry. */
export type ResultUpdate = ({ type: 'result' } & WindowResult) | ({ type: 'retraction' } & WindowRetraction);

/** The prefix of every key and channel of a tenant. */
export function tenantKeyPrefix(tenant: string): string {
  return `tenant:${tenant}:`;
}

/** HASH of a group's current window. */
export function currentResultKey(tenant: string, pipeline: string, aggregation: string, groupKey: string): string {
  return `${tenantKeyPrefix(tenant)}results:${pipeline}:${aggregation}:${groupKey}`;
}

/** ZSET of an aggregation's group keys, scored by the time of their last write. */
export function groupIndexKey(tenant: string, pipeline: string, aggregation: string): string {
  return `${tenantKeyPrefix(tenant)}groups:${pipeline}:${aggregation}`;
}

/** Pub/sub channel of an aggregation's updates. */
export function updatesChannel(tenant: string, pipeline: string, aggregation: string): string {
  return `${tenantKeyPrefix(tenant)}updates:${pipeline}:${aggregation}`;
}

/** Hash field of a measure's value. */
export function measureField(measure: string): string {
  return `m:${measure}`;
}

/** Key of a result on the output topic. */
export function outputKey(aggregation: string, groupKey: string): string {
  return `${aggregation}:${groupKey}`;
}

/** A row of the results table. */
export interface ResultRow {
  aggregation: string;
  group_key: string;
  group_values: Record<string, unknown>;
  window_start: Date;
  window_end: Date;
  measures: Record<string, MeasureValue>;
  events: string;
  revision: string;
  updated_at: Date;
}

/** `"schema"."table"`, quoted: both are identifiers the API restricts to `[a-z_][a-z0-9_]*`. */
export function qualifiedTable(schema: string, table: string): string {
  return `"${schema}"."${table}"`;
}

/** The statement that creates the results table if it is missing. */
export function resultTableSql(schema: string, table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedTable(schema, table)} (
  aggregation text NOT NULL,
  group_key text NOT NULL,
  group_values jsonb NOT NULL,
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  measures jsonb NOT NULL,
  events bigint NOT NULL,
  revision bigint NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (aggregation, group_key, window_start)
) PARTITION BY RANGE (window_start)`;
}

const DAY_MS = 86_400_000;

/** The UTC day a window start falls in, as [from, to) epoch ms. */
export function partitionDay(windowStart: number): [from: number, to: number] {
  const from = Math.floor(windowStart / DAY_MS) * DAY_MS;
  return [from, from + DAY_MS];
}

/**
 * `<table>_pYYYYMMDD`, the daily partition of a window start. A table name too long for the
 * suffix within Postgres's 63 characters is cut and given 8 hex digits of its hash, so that
 * two long names of one schema never share partitions.
 */
export function resultPartitionName(table: string, windowStart: number): string {
  const day = new Date(partitionDay(windowStart)[0]).toISOString().slice(0, 10).replaceAll('-', '');
  const base =
    table.length <= 63 - 10
      ? table
      : `${table.slice(0, 44)}_${createHash('sha256').update(table).digest('hex').slice(0, 8)}`;
  return `${base}_p${day}`;
}
