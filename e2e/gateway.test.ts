/**
 * The gateway against a real API server, Redis and Kafka, with the operator making the
 * pipelines' topics: REST ingestion end to end (what reached the topic is read by a plain
 * kafkajs consumer), validation, tokens, idempotency, and policies applied live.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hasLocalEnv } from '../hack/local-env/control-client.ts';
import {
  gatewayPlatform,
  pipelineWithTopics,
  post,
  readTopic,
  readyGateway,
  tenantWithIssuers,
  type GatewayPlatform,
} from './gateway-fixture.ts';
import type { GatewayProcess } from './gateway-process.ts';
import { TokenIssuer } from './token-issuer.ts';

const NS = 'tenant-gwa';
const ORDERS = `${NS}/orders`;

let platform: GatewayPlatform;
let issuer: TokenIssuer;
let gateway: GatewayProcess;
let ordersTopic: string;
let token: string;

before(async () => {
  assert.ok(hasLocalEnv(), 'the gateway e2e tests need the local environment for Kafka and Redis');
  platform = await gatewayPlatform('gateway-e2e');
  issuer = await TokenIssuer.start('https://issuer-a.e2e.weir.dev/');
  await tenantWithIssuers(platform.clients, 'gwa', [issuer]);
  ordersTopic = await pipelineWithTopics(platform.clients, NS, 'orders', {
    source: { partitions: 3, partitionKey: '/customer', ingestion: { rest: true, webSocket: true, grpc: true } },
    schema: {
      version: 1,
      jsonSchema: {
        type: 'object',
        required: ['customer', 'amount'],
        properties: { customer: { type: 'string' }, amount: { type: 'number', minimum: 0 } },
      },
    },
  });
  gateway = await readyGateway(platform, 'gw-1');
  token = await issuer.token('gwa', { sub: 'client-1' });
});

after(async () => {
  await gateway?.stop();
  await platform?.operator.kill();
  await issuer?.close();
});

describe('REST ingestion', () => {
  it('acknowledges a valid event with its id once it is in the topic, keyed by the partition key, with its headers', async () => {
    const res = await post(
      gateway,
      ORDERS,
      { customer: 'c-42', amount: 12.5 },
      { token, headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } },
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const [id] = res.body.ids as string[];
    assert.match(res.headers.get('ratelimit-policy') ?? '', /"tenant:events";q=1000;w=1/);
    const records = await readTopic(ordersTopic);
    const mine = records.find((r) => r.headers['weir-event-id'] === id);
    assert.ok(mine, `event ${id} not in ${ordersTopic}`);
    assert.deepEqual(JSON.parse(mine.value), { customer: 'c-42', amount: 12.5 });
    assert.equal(mine.key, 'c-42');
    assert.equal(mine.headers['weir-tenant'], 'gwa');
    assert.equal(mine.headers['weir-schema-version'], '1');
    assert.match(mine.headers.traceparent ?? '', /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });

  it('refuses an invalid event with every problem as a JSON pointer', async () => {
    const res = await post(gateway, ORDERS, [{ customer: 'c', amount: -1 }, { amount: 'x' }], { token });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'WEIR_INVALID_EVENT');
    const errors = res.body.errors as { pointer: string }[];
    assert.deepEqual(
      errors.map((e) => e.pointer).sort(),
      ['/0/amount', '/1/amount', '/1/customer', '/1/customer'].sort(),
    );
  });
});
