/**
 * A serving process for integration tests, on the real Redis and Postgres of the local
 * environment (WEIR_REDIS_URL, WEIR_POSTGRES_URL), with two tenants that trust different
 * issuers, their pipelines, and results written the way the processor writes them — by
 * the processor's own sinks (RedisResultSink, PostgresResultSink). The cluster's Tenants and
 * Pipelines are handed to the config directly: these tests need no API server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import pg from 'pg';
import { join } from 'node:path';
import { PipelineSpec } from '../../../crds/pipeline.ts';
import { TenantSpec } from '../../../crds/tenant.ts';
import { IssuerKeys } from '../../../lib/auth/issuer-keys.ts';
import { systemClock } from '../../../lib/clock/clock.ts';
import { silentLogger } from '../../../lib/observability/logger.ts';
import { postgresTenantName } from '../../../lib/postgres/postgres-tenant-store.ts';
import type { WindowResult } from '../../../lib/platform/results.ts';
import { PostgresResultSink } from '../../processor/sinks/postgres-sink.ts';
import { RedisResultSink } from '../../processor/sinks/redis-sink.ts';
import { PROTO_DIR } from '../grpc-server.ts';
import { ServingConfig } from '../serving-config.ts';
import { startServing, type Serving } from '../serving.ts';
import { loadServingSettings } from '../settings.ts';

export const redisUrl = process.env.WEIR_REDIS_URL ?? '';
export const postgresUrl = process.env.WEIR_POSTGRES_URL ?? '';

/** A tenant of the fixture: its name, namespace and a way to sign its tokens. */
export interface FixtureTenant {
  name: string;
  namespace: string;
  issuer: string;
  token(claims?: Record<string, unknown>): Promise<string>;
}

async function makeTenant(name: string): Promise<{ tenant: FixtureTenant; spec: TenantSpec }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${name}`;
  const issuer = `https://id.${name}.example/`;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] });
  const sign = (key: CryptoKey, claims: Record<string, unknown>) =>
    new SignJWT({ tenant: name, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(issuer)
      .setAudience('weir')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
  return {
    tenant: { name, namespace: `tenant-${name}`, issuer, token: (claims = {}) => sign(privateKey, claims) },
    spec: TenantSpec.parse({
      owners: [{ kind: 'User', name: 'ana' }],
      auth: { issuers: [{ issuer, audiences: ['weir'], jwks }] },
    }),
  };
}

/** The pipeline both tenants have (same name, each its own): two aggregations, Redis and Postgres sinks. */
export function pipelineSpec(table: string): PipelineSpec {
  const measures = [
    { name: 'n', type: 'Count' },
    { name: 'total', type: 'Sum', field: '/amount' },
  ];
  return PipelineSpec.parse({
    aggregate: [
      {
        name: 'per_user',
        window: { type: 'Tumbling', size: '1m' },
        eventTime: { field: '/ts' },
        groupBy: ['/user'],
        measures,
      },
      {
        name: 'per_region',
        window: { type: 'Tumbling', size: '1m' },
        eventTime: { field: '/ts' },
        groupBy: ['/region'],
        measures,
      },
      { name: 'overall', window: { type: 'Tumbling', size: '1m' }, eventTime: { field: '/ts' }, measures },
    ],
    sinks: { redis: { ttl: '1h' }, postgres: { table } },
  });
}

/** A result of the fixture's pipeline. */
export function result(
  aggregation: string,
  group: string[],
  windowStart: number,
  n: number,
  final = false,
): WindowResult {
  const pointer = aggregation === 'per_user' ? '/user' : '/region';
  return {
    aggregation,
    groupKey: JSON.stringify(group),
    group: group.length ? { [pointer]: group[0] } : {},
    windowStart,
    windowEnd: windowStart + 60_000,
    measures: { n, total: n * 10 },
    events: n,
    revision: 1,
    final,
    updatedAt: Date.now(),
  };
}

/** Everything a test needs. */
export interface ServingFixture {
  serving: Serving;
  acme: FixtureTenant;
  rival: FixtureTenant;
  /** The pipeline name both tenants have. */
  pipeline: string;
  /** Writes results of a tenant's pipeline with the processor's sinks. */
  write(tenant: FixtureTenant, results: WindowResult[]): Promise<void>;
  admin: { redis: Redis; postgres: pg.Pool };
  http(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  graphql(
    query: string,
    token: string | null,
    variables?: Record<string, unknown>,
  ): Promise<{ status: number; body: GraphqlBody }>;
  grpcClient(): grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  /** Round trips serving made to each backend so far, from its /metrics. */
  backendCalls(): Promise<{ redis: number; postgres: number }>;
  close(): Promise<void>;
}

export interface GraphqlBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** Starts serving with two tenants, acme and rival, each with the pipeline `orders`. */
export async function startServingFixture(): Promise<ServingFixture> {
  // Without its real servers this test fails rather than skips: a skip would read as a pass.
  assert.ok(
    redisUrl && postgresUrl,
    'WEIR_REDIS_URL and WEIR_POSTGRES_URL must be set: run under hack/local-env/cli.ts run',
  );
  const run = randomBytes(3).toString('hex');
  const a = await makeTenant(`acme-${run}`);
  const b = await makeTenant(`rival-${run}`);
  const pipeline = 'orders';
  const table = `results_${run}`;
  const config = new ServingConfig({ keys: new IssuerKeys(), clock: systemClock });
  config.update(
    [
      { metadata: { name: a.tenant.name }, spec: a.spec },
      { metadata: { name: b.tenant.name }, spec: b.spec },
    ],
    [a, b].map(({ tenant }) => ({
      metadata: { name: pipeline, namespace: tenant.namespace },
      spec: pipelineSpec(table),
    })),
  );
  const settings = loadServingSettings(
    [
      '--listen-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--grpc-port',
      '0',
      '--metrics-port',
      '0',
      '--drain-seconds',
      '0',
    ],
    { WEIR_REDIS_URL: redisUrl, WEIR_POSTGRES_URL: postgresUrl, WEIR_SERVING_ID: `test-${run}` },
  );
  const serving = await startServing(settings, {
    config,
    source: { synced: async () => undefined, start: () => undefined, stop: async () => undefined },
    log: silentLogger(),
    clock: systemClock,
  });
  const redis = new Redis(redisUrl);
  const postgres = new pg.Pool({ connectionString: postgresUrl, max: 4 });
  for (const t of [a, b]) await postgres.query(`CREATE SCHEMA IF NOT EXISTS ${postgresTenantName(t.tenant.name)}`);
  const sinks = new Map(
    [a, b].map(({ tenant }) => [
      tenant.name,
      [
        new RedisResultSink({ redis, tenant: tenant.name, pipeline, ttlMs: 3_600_000 }),
        new PostgresResultSink({ pool: postgres, schema: postgresTenantName(tenant.name), table, log: silentLogger() }),
      ],
    ]),
  );
  const base = `http://127.0.0.1:${serving.httpPort}`;
  const definition = loadSync(join(PROTO_DIR, 'weir', 'v1', 'serving.proto'), { longs: Number, defaults: true });
  const Client = (
    grpc.loadPackageDefinition(definition) as unknown as { weir: { v1: { Serving: grpc.ServiceClientConstructor } } }
  ).weir.v1.Serving;
  const clients: grpc.Client[] = [];
  return {
    serving,
    acme: a.tenant,
    rival: b.tenant,
    pipeline,
    admin: { redis, postgres },
    async write(tenant, results) {
      for (const sink of sinks.get(tenant.name)!) await sink.write({ results, retractions: [] });
    },
    http(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.token) headers.set('authorization', `Bearer ${init.token}`);
      return fetch(`${base}${path}`, { ...init, headers });
    },
    async graphql(query, token, variables) {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const text = await response.text();
      return { status: response.status, body: JSON.parse(text) as GraphqlBody };
    },
    grpcClient() {
      const client = new Client(`127.0.0.1:${serving.grpcPort}`, grpc.credentials.createInsecure());
      clients.push(client);
      return client as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
    },
    async backendCalls() {
      const text = await (await fetch(`http://127.0.0.1:${serving.metricsPort}/metrics`)).text();
      const value = (backend: string) =>
        Number(new RegExp(`weir_serving_backend_calls_total\\{backend="${backend}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      return { redis: value('redis'), postgres: value('postgres') };
    },
    async close() {
      for (const c of clients) c.close();
      await serving.stop();
      redis.disconnect();
      await postgres.end();
    },
  };
}
