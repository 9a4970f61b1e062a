/**
 * Where lookups are answered: a Postgres table of the tenant's schema, read as the tenant's
 * own role with parameterized queries; a Redis hash under the tenant's prefix; and the
 * Redis cache (L2) of Postgres answers, also under the tenant's prefix:
 * `tenant:<tenant>:enrich:<pipeline>:<enrichment>:<key>`, a string holding the record's JSON
 * or `null` for a key with none.
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { qualifiedTable, tenantKeyPrefix } from '../../../lib/platform/results.ts';
import type { Found, LookupSource, SharedCache, SourceAnswer } from './lookup-enricher.ts';

/** Looks keys up in `"schema"."table"` by `keyColumn`, all of a batch in one query. */
export class PostgresLookupSource implements LookupSource {
  readonly #pool: pg.Pool;
  readonly #sql: string;
  #columnType: Promise<string> | undefined;
  readonly #schema: string;
  readonly #table: string;
  readonly #keyColumn: string;

  constructor(options: { pool: pg.Pool; schema: string; table: string; keyColumn: string }) {
    this.#pool = options.pool;
    this.#schema = options.schema;
    this.#table = options.table;
    this.#keyColumn = options.keyColumn;
    // Both names are identifiers the API restricts to [a-z_][a-z0-9_]*; values only ever go in as parameters.
    this.#sql = `SELECT * FROM ${qualifiedTable(options.schema, options.table)} WHERE "${options.keyColumn}" = ANY($1::%TYPE%[])`;
  }

  async fetch(keys: string[]): Promise<SourceAnswer> {
    const type = await this.#type();
    const sql = this.#sql.replace('%TYPE%', type);
    try {
      return { records: this.#byKey((await this.#pool.query(sql, [keys])).rows), errors: new Map() };
    } catch (err) {
      // The table may have changed (a column type fixed): its key column is looked up again next time.
      this.#columnType = undefined;
      if (keys.length === 1) return { records: new Map(), errors: new Map([[keys[0]!, err as Error]]) };
      // One bad key (say, text for an integer column) must not fail the others: each on its own.
      const answers = await Promise.all(keys.map((k) => this.fetch([k])));
      return {
        records: new Map(answers.flatMap((a) => [...a.records])),
        errors: new Map(answers.flatMap((a) => [...a.errors])),
      };
    }
  }

  /** The key column's type, so that the parameter is cast to it and the column's index serves the lookup. */
  #type(): Promise<string> {
    this.#columnType ??= this.#pool
      .query(
        `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
        [qualifiedTable(this.#schema, this.#table), this.#keyColumn],
      )
      .then((r) => {
        const type = (r.rows[0] as { type?: string } | undefined)?.type;
        if (!type)
          throw new Error(
            `${this.#schema}.${this.#table} has no column ${this.#keyColumn}, or the table does not exist`,
          );
        // format_type quotes what needs it; anything else is refused rather than put in SQL.
        if (!/^[a-z0-9_ ".[\](),]+$/i.test(type)) throw new Error(`unexpected type ${type} of ${this.#keyColumn}`);
        return type;
      })
      .catch((err: Error) => {
        this.#columnType = undefined;
        throw err;
      });
    return this.#columnType;
  }

  #byKey(rows: Record<string, unknown>[]): Map<string, Record<string, unknown>> {
    const out = new Map<string, Record<string, unknown>>();
    for (const row of rows) {
      const k = row[this.#keyColumn];
      const record = JSON.parse(JSON.stringify(row)) as Record<string, unknown>;
      out.set(typeof k === 'string' ? k : k instanceof Date ? k.toISOString() : String(k), record);
    }
    return out;
  }
}

/** Reads `tenant:<tenant>:<hashPrefix><key>` hashes, a batch in one pipeline. */
export class RedisHashLookupSource implements LookupSource {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(options: { redis: Redis; tenant: string; hashPrefix: string }) {
    this.#redis = options.redis;
    this.#prefix = `${tenantKeyPrefix(options.tenant)}${options.hashPrefix}`;
  }

  async fetch(keys: string[]): Promise<SourceAnswer> {
    const pipeline = this.#redis.pipeline();
    for (const k of keys) pipeline.hgetall(`${this.#prefix}${k}`);
    const replies = (await pipeline.exec()) ?? [];
    const records = new Map<string, Record<string, unknown>>();
    const errors = new Map<string, Error>();
    for (const [i, [err, value]] of replies.entries()) {
      if (err) errors.set(keys[i]!, err);
      else if (value && Object.keys(value as object).length) records.set(keys[i]!, value as Record<string, unknown>);
    }
    return { records, errors };
  }
}

/** The L2 cache of lookups in Redis. */
export class RedisSharedCache implements SharedCache {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(options: { redis: Redis; tenant: string; pipeline: string }) {
    this.#redis = options.redis;
    this.#prefix = `${tenantKeyPrefix(options.tenant)}enrich:${options.pipeline}:`;
  }

  async get(enrichment: string, keys: string[]): Promise<Map<string, Found>> {
    const values = await this.#redis.mget(keys.map((k) => `${this.#prefix}${enrichment}:${k}`));
    const out = new Map<string, Found>();
    for (const [i, v] of values.entries()) if (v !== null) out.set(keys[i]!, JSON.parse(v) as Found);
    return out;
  }

  async set(enrichment: string, entries: Map<string, Found>, ttlMs: number, negativeTtlMs: number): Promise<void> {
    const pipeline = this.#redis.pipeline();
    for (const [k, f] of entries)
      pipeline.set(`${this.#prefix}${enrichment}:${k}`, JSON.stringify(f), 'PX', f === null ? negativeTtlMs : ttlMs);
    await pipeline.exec();
  }
}
