/**
 * Closed windows to Postgres, in the tenant's schema as the tenant's own role: the table of
 * sinks.postgres, shaped by lib/platform/results.ts, is created if missing, with a
 * partition per UTC day of window start made as windows reach it. Rows are upserted and
 * replaced only by an equal or higher revision, so a replay after a crash changes nothing;
 * a retracted session's row is deleted. Only final results are written: open windows live
 * in Redis.
 */
import type pg from 'pg';
import type { Logger } from '../../../lib/observability/logger.ts';
import {
  partitionDay,
  qualifiedTable,
  resultPartitionName,
  resultTableSql,
  type WindowResult,
  type WindowRetraction,
} from '../../../lib/platform/results.ts';
import type { ResultSink } from '../task.ts';

/** Rows per INSERT statement: 9 parameters each, well under Postgres's 65,535. */
const ROWS_PER_STATEMENT = 500;

export class PostgresResultSink implements ResultSink {
  readonly name = 'postgres';
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #table: string;
  readonly #log: Logger;
  #created: Promise<void> | undefined;
  #partitions = new Set<string>();

  constructor(options: { pool: pg.Pool; schema: string; table: string; log: Logger }) {
    this.#pool = options.pool;
    this.#schema = options.schema;
    this.#table = options.table;
    this.#log = options.log;
  }

  async write({ results, retractions }: { results: WindowResult[]; retractions: WindowRetraction[] }): Promise<void> {
    const rows = results.filter((r) => r.final);
    if (!rows.length && !retractions.length) return;
    await this.#ensureTable();
    for (const start of new Set(rows.map((r) => partitionDay(r.windowStart)[0]))) await this.#ensurePartition(start);
    const table = qualifiedTable(this.#schema, this.#table);
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
      const values: unknown[] = [];
      const tuples = chunk.map((r, j) => {
        values.push(
          r.aggregation,
          r.groupKey,
          JSON.stringify(r.group),
          new Date(r.windowStart),
          new Date(r.windowEnd),
          JSON.stringify(r.measures),
          r.events,
          r.revision,
          new Date(r.updatedAt),
        );
        const b = j * 9;
        return `($${b + 1}, $${b + 2}, $${b + 3}::jsonb, $${b + 4}, $${b + 5}, $${b + 6}::jsonb, $${b + 7}, $${b + 8}, $${b + 9})`;
      });
      await this.#pool.query(
        `INSERT INTO ${table} AS t (aggregation, group_key, group_values, window_start, window_end, measures, events, revision, updated_at)
         VALUES ${tuples.join(', ')}
         ON CONFLICT (aggregation, group_key, window_start) DO UPDATE SET
           group_values = EXCLUDED.group_values, window_end = EXCLUDED.window_end, measures = EXCLUDED.measures,
           events = EXCLUDED.events, revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at
         WHERE t.revision <= EXCLUDED.revision`,
        values,
      );
    }
    for (const r of retractions)
      await this.#pool.query(
        `DELETE FROM ${table} WHERE aggregation = $1 AND group_key = $2 AND window_start = $3 AND revision < $4`,
        [r.aggregation, r.groupKey, new Date(r.windowStart), r.revision],
      );
  }

  #ensureTable(): Promise<void> {
    this.#created ??= this.#pool.query(resultTableSql(this.#schema, this.#table)).then(
      () => this.#log.info({ schema: this.#schema, table: this.#table }, 'results table ready'),
      (err: Error) => {
        this.#created = undefined;
        throw err;
      },
    );
    return this.#created;
  }

  async #ensurePartition(dayStart: number): Promise<void> {
    const name = resultPartitionName(this.#table, dayStart);
    if (this.#partitions.has(name)) return;
    const [from, to] = partitionDay(dayStart);
    try {
      await this.#pool.query(
        `CREATE TABLE IF NOT EXISTS ${qualifiedTable(this.#schema, name)} PARTITION OF ${qualifiedTable(this.#schema, this.#table)}
         FOR VALUES FROM ('${new Date(from).toISOString()}') TO ('${new Date(to).toISOString()}')`,
      );
    } catch (err) {
      // Two tasks creating the same partition at once: the loser finds it there.
      if (!['42P07', '23505'].includes((err as { code?: string }).code ?? '')) throw err;
    }
    this.#partitions.add(name);
  }
}
