/**
 * Benchmark: enrichment on a Zipf-distributed key workload, through the processor's own
 * L1 (in-process LRU) → L2 (Redis) → L3 (Postgres) lookups, against the same lookups
 * made straight to Postgres, in one run, as a tenant. Run it with `npm run bench:enrichment`.
 *
 *   node bench/enrichment-hit-ratio.ts [--keys 100000] [--lookups 500000] [--zipf 1.0] [--batch 500]
 *
 * A table of `--keys` customers in a tenant's schema; lookups drawn with probability ∝
 * 1/rank^s, in batches the size of a processor batch, with the default cache settings (L1
 * of 10,000 entries for 30 s, L2 for 5 min). The baseline runs the same batches through the
 * same Postgres source with no cache: one query per batch for its distinct keys. Printed:
 * the share of lookups answered at each level (goal: ≥ 95 % answered by L1 or L2) and the
 * lookup rates of both sides.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PipelineSpec } from '../crds/pipeline.ts';
import { systemClock } from '../lib/clock/clock.ts';
import { PostgresTenantStore } from '../lib/postgres/postgres-tenant-store.ts';
import { RedisTenantStore } from '../lib/redis/redis-tenant-store.ts';
import {
  LookupEnricher,
  type LookupLevel,
  type LookupSource,
} from '../dataplane/processor/enrichment/lookup-enricher.ts';
import { PostgresLookupSource, RedisSharedCache } from '../dataplane/processor/enrichment/sources.ts';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    lookups: { type: 'string', default: '500000' },
    zipf: { type: 'string', default: '1.0' },
    batch: { type: 'string', default: '500' },
  },
});
const KEYS = Number(values.keys);
const LOOKUPS = Number(values.lookups);
const S = Number(values.zipf);
const BATCH = Number(values.batch);

/** Ranks drawn with probability ∝ 1/rank^s, from a seeded generator. */
function zipf(n: number, s: number, seed: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 1; r <= n; r++) cdf[r - 1] = sum += 1 / r ** s;
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const u = state / 4294967296;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

const tenant = `bench-${randomUUID().slice(0, 6)}`;
const pgPassword = randomUUID().replaceAll('-', '');
const redisPassword = randomUUID();
const tenants = new PostgresTenantStore({ connectionString: process.env.WEIR_POSTGRES_URL! });
const redisUsers = new RedisTenantStore({ url: process.env.WEIR_REDIS_URL! });
const pgTenant = await tenants.ensureTenant({ tenant, password: pgPassword });
const redisUser = await redisUsers.ensureUser({ tenant, password: redisPassword });
const pgUrl = new URL(process.env.WEIR_POSTGRES_URL!);
const redisUrl = new URL(process.env.WEIR_REDIS_URL!);
const pool = new pg.Pool({
  host: pgUrl.hostname,
  port: Number(pgUrl.port),
  database: pgTenant.database,
  user: pgTenant.role,
  password: pgPassword,
  max: 8,
});
const redis = new Redis(
  `redis://${encodeURIComponent(redisUser.user)}:${encodeURIComponent(redisPassword)}@${redisUrl.host}`,
  { enableReadyCheck: false },
);
try {
  await pool.query('CREATE TABLE customers (id integer PRIMARY KEY, plan text NOT NULL, region text NOT NULL)');
  await pool.query(
    `INSERT INTO customers SELECT i, (ARRAY['free','pro','enterprise'])[1 + i % 3], 'r' || (i % 20) FROM generate_series(1, ${KEYS}) i`,
  );
  await pool.query('ANALYZE customers');
  const draw = zipf(KEYS, S, 7);
  const batches = Array.from({ length: Math.ceil(LOOKUPS / BATCH) }, () =>
    Array.from({ length: BATCH }, () => ({ customer: draw() })),
  );
  const spec = PipelineSpec.parse({
    enrich: [{ name: 'customer', key: '/customer', into: 'c', postgres: { table: 'customers', keyColumn: 'id' } }],
  }).enrich!;
  const source = new PostgresLookupSource({ pool, schema: pgTenant.schema, table: 'customers', keyColumn: 'id' });

  const levels: Record<string, number> = {};
  const weir = new LookupEnricher({
    enrichments: spec,
    sources: new Map<string, LookupSource>([['customer', source]]),
    shared: new RedisSharedCache({ redis, tenant, pipeline: 'bench' }),
    clock: systemClock,
    onLookup: (_e, level: LookupLevel, found, n) =>
      (levels[`${level}${found ? '' : ' (miss)'}`] = (levels[`${level}${found ? '' : ' (miss)'}`] ?? 0) + n),
  });
  let started = performance.now();
  for (const b of batches) await weir.enrich(b.map((e) => ({ ...e })));
  const weirSeconds = (performance.now() - started) / 1000;

  started = performance.now();
  let found = 0;
  for (const b of batches) found += (await source.fetch([...new Set(b.map((e) => String(e.customer)))])).records.size;
  const directSeconds = (performance.now() - started) / 1000;

  // Each batch looks a key up once: the levels count distinct keys per batch, the rates count every lookup.
  const distinct = Object.values(levels).reduce((a, b) => a + b, 0);
  const share = (n: number) => `${((100 * n) / distinct).toFixed(2)} %`;
  console.log(
    `${KEYS.toLocaleString('en')} keys, Zipf s=${S}, ${LOOKUPS.toLocaleString('en')} lookups in batches of ${BATCH} (${distinct.toLocaleString('en')} distinct per batch, summed)`,
  );
  for (const [level, n] of Object.entries(levels).sort())
    console.log(`  answered by ${level.padEnd(14)} ${n.toLocaleString('en').padStart(9)}  ${share(n)}`);
  const fromSource = (levels.source ?? 0) + (levels['source (miss)'] ?? 0);
  console.log(
    `hit ratio over lookups of events: ${((100 * (LOOKUPS - fromSource)) / LOOKUPS).toFixed(2)} % (goal 95 %): ${fromSource.toLocaleString('en')} of ${LOOKUPS.toLocaleString('en')} reached Postgres`,
  );
  console.log(`hit ratio over the distinct keys of each batch: ${share(distinct - fromSource)}`);
  console.log(`Weir, L1 → L2 → L3: ${Math.round(LOOKUPS / weirSeconds).toLocaleString('en')} lookups/s`);
  console.log(
    `straight to Postgres: ${Math.round(LOOKUPS / directSeconds).toLocaleString('en')} lookups/s (${found.toLocaleString('en')} rows fetched)`,
  );
  console.log(`ratio: ${(directSeconds / weirSeconds).toFixed(2)}`);
} finally {
  await pool.end();
  redis.disconnect();
  await tenants.dropTenant(tenant);
  await redisUsers.deleteUser(tenant, { deleteKeys: true });
  await Promise.all([tenants.close(), redisUsers.close()]);
}
