/**
 * The gateway against a real API server, Redis and Kafka, with the operator making the
 * pipelines' topics and writing the policies' status, two gateways running with the
 * chart's RBAC, tokens from JWKS issuers served here, and what reached a topic read by a
 * plain kafkajs consumer: REST ingestion end to end, validation, tokens, tenant isolation,
 * idempotency, hostile input, and RateLimitPolicies applied live and shared by both gateways.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hasLocalEnv } from '../hack/local-env/control-client.ts';
import { applyWeirObject, deleteWeirObject } from './cluster.ts';
import { eventually } from './eventually.ts';
import {
  gatewayPlatform,
  hasEvents,
  metricValue,
  pipelineWithTopics,
  post,
  readTopic,
  readyGateway,
  tcpConnectionsTo,
  tenantWithIssuers,
  type GatewayPlatform,
} from './gateway-fixture.ts';
import type { GatewayProcess } from './gateway-process.ts';
import { env } from './platform.ts';
import { TokenIssuer } from './token-issuer.ts';

const A = 'tenant-gwa';
const B = 'tenant-gwb';
const ORDERS = `${A}/orders`;
const CLICKS = `${B}/clicks`;

let platform: GatewayPlatform;
let shared: TokenIssuer;
let onlyB: TokenIssuer;
let gw1: GatewayProcess;
let gw2: GatewayProcess;
let ordersTopic: string;
let clicksTopic: string;
let tokenA: string;
let tokenB: string;

interface PolicyView {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    appliedBy?: number;
    conflicts?: string[];
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

function policy(name: string, namespace: string, spec: Record<string, unknown>) {
  return { apiVersion: 'weir.dev/v1alpha1', kind: 'RateLimitPolicy', metadata: { name, namespace }, spec };
}

async function policyView(namespace: string, name: string): Promise<PolicyView> {
  return (await platform.clients.custom.getNamespacedCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'ratelimitpolicies',
    namespace,
    name,
  })) as PolicyView;
}

before(async () => {
  assert.ok(hasLocalEnv(), 'the gateway e2e tests need the local environment for Kafka and Redis');
  platform = await gatewayPlatform('gateway-e2e');
  shared = await TokenIssuer.start('https://shared.e2e.weir.dev/');
  onlyB = await TokenIssuer.start('https://b.e2e.weir.dev/');
  await Promise.all([
    tenantWithIssuers(platform.clients, 'gwa', [shared]),
    tenantWithIssuers(platform.clients, 'gwb', [shared, onlyB], { eventsPerSecond: 100_000, bytesPerSecond: 64 << 20 }),
  ]);
  [ordersTopic, clicksTopic] = await Promise.all([
    pipelineWithTopics(platform.clients, A, 'orders', {
      source: { partitions: 3, partitionKey: '/customer', ingestion: { rest: true, webSocket: true, grpc: true } },
      schema: {
        version: 1,
        jsonSchema: {
          type: 'object',
          required: ['customer', 'amount'],
          properties: { customer: { type: 'string' }, amount: { type: 'number', minimum: 0 } },
        },
      },
    }),
    pipelineWithTopics(platform.clients, B, 'clicks', { source: { partitions: 2 } }),
    pipelineWithTopics(platform.clients, A, 'quiet', { source: { partitions: 1, ingestion: { rest: false } } }),
  ]);
  [gw1, gw2] = await Promise.all([readyGateway(platform, 'gw-1'), readyGateway(platform, 'gw-2')]);
  tokenA = await shared.token('gwa', { sub: 'client-a' });
  tokenB = await onlyB.token('gwb', { sub: 'client-b' });
});

after(async () => {
  await Promise.all([gw1?.stop(), gw2?.stop()]);
  await platform?.operator.kill();
  await Promise.all([shared?.close(), onlyB?.close()]);
});

describe('REST ingestion', () => {
  it('acknowledges an event with its id once it is in the topic, keyed by the partition key, with its headers', async () => {
    const res = await post(
      gw1,
      ORDERS,
      { customer: 'c-42', amount: 12.5 },
      {
        token: tokenA,
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      },
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const [id] = res.body.ids as string[];
    assert.match(res.headers.get('ratelimit-policy') ?? '', /"tenant:events";q=1000;w=1/);
    assert.match(res.headers.get('ratelimit') ?? '', /"tenant:events";r=\d+;t=\d+/);
    const mine = (await readTopic(ordersTopic, { until: hasEvents([id!]) })).find(
      (r) => r.headers['weir-event-id'] === id,
    );
    assert.ok(mine, `event ${id} not in ${ordersTopic}`);
    assert.deepEqual(JSON.parse(mine.value), { customer: 'c-42', amount: 12.5 });
    assert.equal(mine.key, 'c-42');
    assert.equal(mine.headers['weir-tenant'], 'gwa');
    assert.equal(mine.headers['weir-schema-version'], '1');
    assert.match(mine.headers.traceparent ?? '', /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });

  it('takes batches as a JSON array or NDJSON, with one id per event', async () => {
    const array = await post(gw1, CLICKS, [{ n: 1 }, { n: 2 }, { n: 3 }], { token: tokenB });
    const ndjson = await post(gw2, CLICKS, undefined, {
      token: tokenB,
      contentType: 'application/x-ndjson',
      raw: '{"n":4}\n{"n":5}\n',
    });
    assert.deepEqual([array.status, ndjson.status], [202, 202]);
    const ids = [...(array.body.ids as string[]), ...(ndjson.body.ids as string[])];
    assert.equal(ids.length, 5);
    const records = await readTopic(clicksTopic, { until: hasEvents(ids) });
    assert.deepEqual(
      ids.map((id) => JSON.parse(records.find((r) => r.headers['weir-event-id'] === id)?.value ?? 'null')),
      [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }],
    );
    // Without a partition key, the tenant is the key.
    assert.ok(records.every((r) => r.key === 'gwb'));
  });

  it('refuses an invalid event with every problem as a JSON pointer, and writes nothing of the batch', async () => {
    const res = await post(gw1, ORDERS, [{ customer: 'ok', amount: 1 }, { amount: -1 }], { token: tokenA });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(res.body.code, 'WEIR_INVALID_EVENT');
    const errors = res.body.errors as { pointer: string; message: string }[];
    assert.ok(
      errors.some((e) => e.pointer === '/1/amount' && /must be >= 0/.test(e.message)),
      JSON.stringify(errors),
    );
    assert.ok(errors.some((e) => e.pointer === '/1/customer'));
    assert.ok(!(await readTopic(ordersTopic, { quietMs: 1_500 })).some((r) => r.value.includes('"customer":"ok"')));
  });

  it('writes a retried request with the same Idempotency-Key once, on either gateway, and answers it with the same ids', async () => {
    const send = (gateway: GatewayProcess) =>
      post(
        gateway,
        ORDERS,
        { customer: 'idem', amount: 7 },
        { token: tokenA, headers: { 'idempotency-key': 'order-7' } },
      );
    const first = await send(gw1);
    const [second, third] = await Promise.all([send(gw2), send(gw1)]);
    assert.deepEqual([first.status, second.status, third.status], [202, 202, 202]);
    assert.deepEqual(second.body.ids, first.body.ids);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    const copies = (await readTopic(ordersTopic)).filter((r) => r.headers['weir-idempotency-key'] === 'order-7');
    assert.equal(copies.length, 1);
  });

  it('answers 404 for a pipeline that does not exist or does not take REST, once the token is the tenant’s', async () => {
    for (const pipeline of [`${A}/nope`, `${A}/quiet`, 'default/orders']) {
      const res = await post(gw1, pipeline, { customer: 'c', amount: 1 }, { token: tokenA });
      assert.equal(res.status, 404, pipeline);
      assert.equal(res.body.code, 'WEIR_NOT_FOUND');
    }
    // Without a token, the same request says nothing about whether the pipeline exists.
    assert.equal((await post(gw1, `${A}/nope`, { customer: 'c', amount: 1 })).status, 401);
  });
});

describe('tokens and tenants', () => {
  it("refuses tenant A's token on tenant B's pipeline, and B's on A's", async () => {
    const crossed = await post(gw1, CLICKS, { n: 1 }, { token: tokenA });
    assert.equal(crossed.status, 403);
    assert.equal(crossed.body.code, 'WEIR_FORBIDDEN');
    const otherIssuer = await post(gw2, ORDERS, { customer: 'c', amount: 1 }, { token: tokenB });
    assert.equal(otherIssuer.status, 401);
    assert.match(String(otherIssuer.body.detail), /not accepted for this tenant/);
  });

  const bad: [string, () => Promise<string | undefined>, number, string, RegExp?][] = [
    ['a missing token', async () => undefined, 401, 'WEIR_UNAUTHENTICATED'],
    ['an expired token', () => shared.token('gwa', {}, -120), 401, 'WEIR_INVALID_TOKEN', /expired/],
    [
      'a token signed by another key under a known kid',
      () => shared.forged('gwa'),
      401,
      'WEIR_INVALID_TOKEN',
      /signature/,
    ],
    ['an unsigned token (alg none)', async () => shared.unsigned('gwa'), 401, 'WEIR_INVALID_TOKEN', /"none"/],
    ['a token that is no JWT', async () => 'abc.def', 401, 'WEIR_INVALID_TOKEN'],
  ];
  for (const [name, make, status, code, detail] of bad) {
    it(`refuses ${name} with ${status}`, async () => {
      const res = await post(gw1, ORDERS, { customer: 'c', amount: 1 }, { token: await make() });
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.code, code);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      if (detail) assert.match(String(res.body.detail), detail);
    });
  }

  it("picks up an issuer's rotated key from its JWKS without a restart", async () => {
    await shared.rotate();
    const rotated = await shared.token('gwa');
    // A key id the gateway fetched the key set for moments ago waits for the fetch cooldown (2 s here).
    await eventually(async () => {
      const res = await post(gw2, ORDERS, { customer: 'rotated', amount: 1 }, { token: rotated });
      assert.equal(res.status, 202, JSON.stringify(res.body));
    }, 15_000);
  });
});

describe('hostile input', () => {
  const cases: [string, () => Promise<Response>, number, string][] = [
    ['broken JSON', () => raw('{"customer": "c", ', 'application/json'), 400, 'WEIR_INVALID_EVENT'],
    [
      'nesting 10,000 levels deep',
      () => raw(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, 'application/json'),
      400,
      'WEIR_INVALID_EVENT',
    ],
    [
      'a 2 MiB body',
      () => raw(`{"customer":"${'x'.repeat(2 << 20)}","amount":1}`, 'application/json'),
      413,
      'WEIR_PAYLOAD_TOO_LARGE',
    ],
    [
      'a wrong content type',
      () => raw('customer=c&amount=1', 'application/x-www-form-urlencoded'),
      415,
      'WEIR_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['no content type', () => raw('{"customer":"c","amount":1}', undefined), 415, 'WEIR_UNSUPPORTED_MEDIA_TYPE'],
    ['a JSON string instead of an object', () => raw('"just a string"', 'application/json'), 400, 'WEIR_INVALID_EVENT'],
    [
      'a GET',
      () => fetch(`${gw1.url}/v1/pipelines/${ORDERS}/events`, { headers: { authorization: `Bearer ${tokenA}` } }),
      405,
      'WEIR_METHOD_NOT_ALLOWED',
    ],
  ];
  async function raw(body: string, contentType: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${tokenA}` };
    if (contentType) headers['content-type'] = contentType;
    return fetch(`${gw1.url}/v1/pipelines/${ORDERS}/events`, { method: 'POST', headers, body });
  }
  for (const [name, send, status, code] of cases) {
    it(`answers ${name} with ${status}`, async () => {
      const res = await send();
      assert.equal(res.status, status);
      assert.equal(((await res.json()) as { code: string }).code, code);
    });
  }

  it('answers headers larger than the server takes with 431', async () => {
    const res = await fetch(`${gw1.url}/v1/pipelines/${ORDERS}/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokenA}`,
        'content-type': 'application/json',
        'x-junk': 'x'.repeat(64 * 1024),
      },
      body: '{}',
    });
    assert.equal(res.status, 431);
  });

  it('is still up and serving after all of it', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${gw1.metricsPort}/readyz`)).status, 200);
    assert.equal((await post(gw1, ORDERS, { customer: 'after', amount: 1 }, { token: tokenA })).status, 202);
  });
});

describe('rate-limit policies', () => {
  it('enforces a new policy within seconds of being applied, on both gateways, and reports it applied by both', async () => {
    await applyWeirObject(
      platform.clients.custom,
      policy('per-customer', A, {
        targetRef: { kind: 'Pipeline', name: 'orders' },
        rules: [{ name: 'per_sub', key: { source: 'TokenClaim', name: 'sub' }, rate: 3, per: '1h' }],
      }) as never,
    );
    const view = await eventually(async () => {
      const v = await policyView(A, 'per-customer');
      assert.equal(v.status?.appliedBy, 2, JSON.stringify(v.status));
      assert.equal(v.status?.observedGeneration, v.metadata.generation);
      return v;
    }, 30_000);
    assert.equal(view.status?.conditions?.find((c) => c.type === 'Accepted')?.status, 'True');
    const token = await shared.token('gwa', { sub: 'limited-client' });
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await post(i % 2 ? gw1 : gw2, ORDERS, { customer: 'c', amount: i }, { token })).status);
    assert.deepEqual(statuses, [202, 202, 202, 429, 429]);
    const refused = await post(gw1, ORDERS, { customer: 'c', amount: 9 }, { token });
    assert.equal(refused.body.code, 'WEIR_RATE_LIMITED');
    assert.ok(Number(refused.headers.get('retry-after')) > 1000, refused.headers.get('retry-after') ?? '');
    assert.match(refused.headers.get('ratelimit') ?? '', /"per-customer\/per_sub";r=0;t=\d+/);
    // Another subject has its own bucket.
    assert.equal(
      (await post(gw1, ORDERS, { customer: 'c', amount: 1 }, { token: await shared.token('gwa', { sub: 'other' }) }))
        .status,
      202,
    );
    const metrics = await gw1.metrics();
    assert.ok(
      metricValue(metrics, 'weir_gateway_events_limited_total', {
        tenant: 'gwa',
        pipeline: ORDERS,
        limit: 'per-customer/per_sub',
      }) >= 1,
    );
  });

  it('refuses a policy conflicting with an older one and says so in both statuses', async () => {
    // Created in the same second as the first, it is the newer one by name, as every gateway decides.
    await applyWeirObject(
      platform.clients.custom,
      policy('per-customer-late', A, {
        targetRef: { kind: 'Pipeline', name: 'orders' },
        rules: [{ name: 'per_sub', key: { source: 'Global' }, rate: 1, per: '1h' }],
      }) as never,
    );
    const late = await eventually(async () => {
      const v = await policyView(A, 'per-customer-late');
      assert.equal(
        v.status?.conditions?.find((c) => c.type === 'Accepted')?.reason,
        'Conflicted',
        JSON.stringify(v.status),
      );
      return v;
    }, 30_000);
    assert.deepEqual(late.status?.conflicts, ['per-customer']);
    assert.equal(late.status?.appliedBy, 0);
    await eventually(
      async () => assert.deepEqual((await policyView(A, 'per-customer')).status?.conflicts, ['per-customer-late']),
      30_000,
    );
    // The refused policy's 1/h global limit is not applied.
    const fresh = await shared.token('gwa', { sub: 'conflict-check' });
    assert.equal((await post(gw1, ORDERS, { customer: 'c', amount: 1 }, { token: fresh })).status, 202);
    assert.equal((await post(gw2, ORDERS, { customer: 'c', amount: 2 }, { token: fresh })).status, 202);
    await deleteWeirObject(platform.clients.custom, policy('per-customer-late', A, {}) as never);
    await deleteWeirObject(platform.clients.custom, policy('per-customer', A, {}) as never);
  });

  it('counts a Shadow policy and never refuses for it', async () => {
    await applyWeirObject(
      platform.clients.custom,
      policy('shadow', B, {
        mode: 'Shadow',
        rules: [{ name: 'tiny', key: { source: 'Global' }, rate: 1, per: '1h' }],
      }) as never,
    );
    await eventually(async () => assert.equal((await policyView(B, 'shadow')).status?.appliedBy, 2), 30_000);
    for (let i = 0; i < 4; i++) assert.equal((await post(gw1, CLICKS, { shadow: i }, { token: tokenB })).status, 202);
    assert.ok(
      metricValue(await gw1.metrics(), 'weir_gateway_events_shadow_limited_total', {
        tenant: 'gwb',
        pipeline: CLICKS,
        limit: 'shadow/tiny',
      }) >= 3,
    );
    await deleteWeirObject(platform.clients.custom, policy('shadow', B, {}) as never);
  });

  it('refuses clients outside the allowed networks of a policy', async () => {
    await applyWeirObject(
      platform.clients.custom,
      policy('networks', B, {
        ipAllow: ['10.0.0.0/8'],
        rules: [{ name: 'any', key: { source: 'Global' }, rate: 1_000_000 }],
      }) as never,
    );
    await eventually(
      async () => assert.equal((await post(gw1, CLICKS, { n: 1 }, { token: tokenB })).status, 403),
      30_000,
    );
    await deleteWeirObject(platform.clients.custom, policy('networks', B, {}) as never);
    await eventually(
      async () => assert.equal((await post(gw1, CLICKS, { n: 1 }, { token: tokenB })).status, 202),
      30_000,
    );
  });

  it('keeps two gateways sharing one limit through Redis within 10% of its rate', async () => {
    const rate = 40;
    await applyWeirObject(
      platform.clients.custom,
      policy('shared-rate', B, {
        targetRef: { kind: 'Pipeline', name: 'clicks' },
        rules: [{ name: 'all', key: { source: 'Global' }, rate, burst: 5 }],
      }) as never,
    );
    await eventually(async () => assert.equal((await policyView(B, 'shared-rate')).status?.appliedBy, 2), 30_000);
    let admitted = 0;
    let limited = 0;
    const seconds = 5;
    const started = Date.now();
    const until = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        while (Date.now() < until) {
          const status = (await post(i % 2 ? gw1 : gw2, CLICKS, { shared: i }, { token: tokenB })).status;
          if (status === 202) admitted++;
          else if (status === 429) limited++;
          else assert.fail(`status ${status}`);
        }
      }),
    );
    const elapsed = (Date.now() - started) / 1000;
    const expected = rate * elapsed;
    assert.ok(limited > 0, 'the limit was never reached');
    assert.ok(
      admitted <= (5 + expected) * 1.1 && admitted >= expected * 0.9,
      `admitted ${admitted} in ${elapsed.toFixed(1)} s at ${rate}/s`,
    );
    await deleteWeirObject(platform.clients.custom, policy('shared-rate', B, {}) as never);
  });
});

describe('metering and resources', () => {
  it('meters accepted events and bytes per tenant and pipeline, and rejected ones by reason', async () => {
    const before = await gw2.metrics();
    const body = { customer: 'metered', amount: 3 };
    assert.equal((await post(gw2, ORDERS, body, { token: tokenA })).status, 202);
    assert.equal((await post(gw2, ORDERS, { amount: 'x' }, { token: tokenA })).status, 400);
    const now = await gw2.metrics();
    const labels = { tenant: 'gwa', pipeline: ORDERS, protocol: 'rest' };
    const delta = (name: string, l: Record<string, string>) => metricValue(now, name, l) - metricValue(before, name, l);
    assert.equal(delta('weir_gateway_events_accepted_total', labels), 1);
    assert.equal(delta('weir_gateway_bytes_accepted_total', labels), Buffer.byteLength(JSON.stringify(body)));
    assert.equal(delta('weir_gateway_events_rejected_total', { ...labels, reason: 'invalid' }), 1);
  });

  it('writes through at most two Kafka connections whatever the number of concurrent clients', async () => {
    const kafkaPort = Number(env('WEIR_KAFKA_BROKERS').split(',')[0]!.split(':').at(-1));
    await Promise.all(Array.from({ length: 10 }, (_, i) => post(gw1, CLICKS, { few: i }, { token: tokenB })));
    const withFew = tcpConnectionsTo(gw1.pid!, kafkaPort);
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => post(gw1, CLICKS, { many: i }, { token: tokenB })),
    );
    assert.ok(results.every((r) => r.status === 202));
    const withMany = tcpConnectionsTo(gw1.pid!, kafkaPort);
    assert.ok(withFew >= 1 && withFew <= 2, `${withFew} connections with 10 clients`);
    assert.equal(withMany, withFew, `${withMany} connections with 500 clients`);
    assert.equal(metricValue(await gw1.metrics(), 'weir_gateway_kafka_producers'), 1);
  });
});
