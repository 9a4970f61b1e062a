/**
 * The gateway when its backends fail, through the local environment's fault injection:
 * with Redis stopped, each policy's failure mode decides; with Kafka stopped while clients
 * send, they get 503 with Retry-After, and once it is back every acknowledged event is in
 * the topic exactly once; a gateway stopped with SIGTERM while clients send loses none of
 * the events it acknowledged. What reached a topic is read by a plain kafkajs consumer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { hasLocalEnv, startComponent, stopComponent } from '../hack/local-env/control-client.ts';
import { applyWeirObject } from './cluster.ts';
import { eventually } from './eventually.ts';
import {
  gatewayPlatform,
  metricValue,
  pipelineWithTopics,
  post,
  readTopic,
  readyGateway,
  tenantWithIssuers,
  type GatewayPlatform,
} from './gateway-fixture.ts';
import type { GatewayProcess } from './gateway-process.ts';
import { TokenIssuer } from './token-issuer.ts';

const F = 'tenant-gwf';

let platform: GatewayPlatform;
let issuer: TokenIssuer;
let gateway: GatewayProcess;
let steadyTopic: string;
let drainTopic: string;
let token: string;

async function policyApplied(name: string): Promise<void> {
  await eventually(async () => {
    const p = (await platform.clients.custom.getNamespacedCustomObject({
      group: 'weir.dev',
      version: 'v1alpha1',
      plural: 'ratelimitpolicies',
      namespace: F,
      name,
    })) as { status?: { appliedBy?: number } };
    assert.ok((p.status?.appliedBy ?? 0) >= 1, JSON.stringify(p.status));
  }, 30_000);
}

before(async () => {
  assert.ok(hasLocalEnv(), 'the gateway fault tests need the local environment to stop and start its servers');
  platform = await gatewayPlatform('gateway-faults-e2e');
  issuer = await TokenIssuer.start('https://faults.e2e.weir.dev/');
  await tenantWithIssuers(platform.clients, 'gwf', [issuer], { eventsPerSecond: 100_000, bytesPerSecond: 64 << 20 });
  [steadyTopic, drainTopic] = await Promise.all([
    pipelineWithTopics(platform.clients, F, 'steady', { source: { partitions: 3 } }),
    pipelineWithTopics(platform.clients, F, 'drain', {
      source: { partitions: 2, ingestion: { rest: true, webSocket: true } },
    }),
    pipelineWithTopics(platform.clients, F, 'open', { source: { partitions: 1 } }),
    pipelineWithTopics(platform.clients, F, 'closed', { source: { partitions: 1 } }),
  ]);
  for (const [name, target, onStoreFailure, rate] of [
    ['open-limit', 'open', 'FailOpen', 2],
    ['closed-limit', 'closed', 'FailClosed', 100_000],
  ] as const) {
    await applyWeirObject(platform.clients.custom, {
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name, namespace: F },
      spec: {
        targetRef: { kind: 'Pipeline', name: target },
        onStoreFailure,
        rules: [{ name: 'all', key: { source: 'Global' }, rate, per: '1h' }],
      },
    } as never);
  }
  gateway = await readyGateway(platform, 'gwf-1');
  await Promise.all([policyApplied('open-limit'), policyApplied('closed-limit')]);
  token = await issuer.token('gwf', { sub: 'faulty' });
});

after(async () => {
  await gateway?.stop();
  await platform?.operator.kill();
  await issuer?.close();
});

describe('with Redis stopped', () => {
  it("admits FailOpen policies' requests, refuses FailClosed ones with 503, and limits again once Redis is back", async () => {
    const open = () => post(gateway, `${F}/open`, { n: 1 }, { token });
    const closed = () => post(gateway, `${F}/closed`, { n: 1 }, { token });
    assert.deepEqual([(await open()).status, (await open()).status, (await open()).status], [202, 202, 429]);
    assert.equal((await closed()).status, 202);
    await stopComponent('redis');
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal((await open()).status, 202);
        const refused = await closed();
        assert.equal(refused.status, 503);
        assert.equal(refused.body.code, 'WEIR_REDIS_UNAVAILABLE');
        assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      }
      const metrics = await gateway.metrics();
      assert.ok(metricValue(metrics, 'weir_gateway_ratelimit_store_unavailable_total', { mode: 'failOpen' }) >= 5);
      assert.ok(metricValue(metrics, 'weir_gateway_ratelimit_store_unavailable_total', { mode: 'failClosed' }) >= 5);
    } finally {
      await startComponent('redis');
    }
    // Redis kept its data: the FailOpen policy's exhausted bucket refuses again.
    await eventually(async () => assert.equal((await open()).status, 429), 20_000, 250);
    await eventually(async () => assert.equal((await closed()).status, 202), 20_000, 250);
  });
});

describe('with Kafka stopped while clients send', () => {
  it('answers 503 with Retry-After, and after recovery every acknowledged event is in the topic exactly once', async () => {
    const perClient = 25;
    const acknowledged: string[] = [];
    const refusals: { status: number; retryAfter: string | null }[] = [];
    let outage: 'before' | 'during' | 'after' = 'before';
    const client = async (c: number) => {
      for (let n = 0; n < perClient; n++) {
        const key = `ev-${c}-${n}`;
        // Retried with the same key until acknowledged, as a client that must not lose events does.
        for (;;) {
          const res = await post(
            gateway,
            `${F}/steady`,
            { client: c, n },
            { token, headers: { 'idempotency-key': key } },
          ).catch(() => undefined);
          if (res?.status === 202) {
            acknowledged.push(key);
            break;
          }
          if (res && outage === 'during')
            refusals.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
          await sleep(Math.min(1_000, Number(res?.headers.get('retry-after') ?? 1) * 1000) / 2);
        }
        if (outage === 'before' && n === 3) await sleep(100);
      }
    };
    const clients = Promise.all(Array.from({ length: 6 }, (_, c) => client(c)));
    await eventually(() => assert.ok(acknowledged.length >= 12), 20_000, 50);
    outage = 'during';
    await stopComponent('kafka');
    await sleep(4_000);
    await startComponent('kafka');
    outage = 'after';
    await clients;
    assert.ok(refusals.length > 0, 'no request was refused during the outage');
    const unavailable = refusals.filter((r) => r.status === 503);
    assert.ok(
      unavailable.length > 0 && unavailable.every((r) => Number(r.retryAfter) >= 1),
      JSON.stringify(refusals.slice(0, 5)),
    );
    assert.ok(
      refusals.every((r) => r.status === 503 || r.status === 409),
      JSON.stringify(refusals.filter((r) => r.status !== 503 && r.status !== 409)),
    );
    const copies = new Map<string, number>();
    for (const r of await readTopic(steadyTopic, { quietMs: 3_000 })) {
      const key = r.headers['weir-idempotency-key'];
      if (key) copies.set(key, (copies.get(key) ?? 0) + 1);
    }
    assert.equal(acknowledged.length, 6 * perClient);
    for (const key of acknowledged)
      assert.equal(copies.get(key), 1, `${key} is in the topic ${copies.get(key) ?? 0} times`);
  });
});

describe('a gateway stopped with SIGTERM while clients send', () => {
  it('answers what is in flight, closes streams with going away, exits cleanly, and loses no acknowledged event', async () => {
    const draining = await readyGateway(platform, 'gwf-drain');
    const acknowledged: string[] = [];
    let stopped = false;
    const loops = Array.from({ length: 6 }, async (_, c) => {
      for (let n = 0; !stopped; n++) {
        const res = await post(draining, `${F}/drain`, { c, n }, { token }).catch(() => undefined);
        if (res?.status === 202) acknowledged.push(...(res.body.ids as string[]));
        else if (!res) return;
      }
    });
    const ws = new WebSocket(`ws://127.0.0.1:${draining.httpPort}/v1/pipelines/${F}/drain/stream`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const wsAcks: string[] = [];
    ws.on('message', (data) => {
      const answer = JSON.parse(data.toString()) as { type: string; eventId?: string };
      if (answer.type === 'ack') wsAcks.push(answer.eventId!);
    });
    const wsClosed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    let sent = 0;
    const pump = setInterval(
      () => ws.readyState === ws.OPEN && ws.send(JSON.stringify({ id: `w-${sent++}`, event: { ws: sent } })),
      5,
    );
    await eventually(() => assert.ok(acknowledged.length > 50 && wsAcks.length > 20), 20_000, 50);
    const exit = draining.stop();
    assert.equal(await exit, 0);
    stopped = true;
    clearInterval(pump);
    await Promise.all(loops);
    assert.equal(await wsClosed, 1001);
    const ids = new Set((await readTopic(drainTopic, { quietMs: 2_000 })).map((r) => r.headers['weir-event-id']));
    const lost = [...acknowledged, ...wsAcks].filter((id) => !ids.has(id));
    assert.deepEqual(lost, [], `${lost.length} acknowledged events missing from the topic`);
  });
});
