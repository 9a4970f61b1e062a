/**
 * The gateway's WebSocket and gRPC ingestion against a real API server, Redis and Kafka:
 * acknowledged messages are in the topic (read by a plain kafkajs consumer); a session
 * resumed on another gateway loses and duplicates nothing; connection caps hold across
 * gateways and free the places of a crashed one; heartbeats reap silent clients;
 * per-message limits and tenant isolation apply to both protocols.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import WebSocket from 'ws';
import { hasLocalEnv } from '../hack/local-env/control-client.ts';
import { applyWeirObject, deleteWeirObject, root } from './cluster.ts';
import { eventually } from './eventually.ts';
import {
  gatewayPlatform,
  hasEvents,
  metricValue,
  pipelineWithTopics,
  readTopic,
  readyGateway,
  tenantWithIssuers,
  type GatewayPlatform,
} from './gateway-fixture.ts';
import type { GatewayProcess } from './gateway-process.ts';
import { TokenIssuer } from './token-issuer.ts';

const S = 'tenant-gws';
const EVENTS = `${S}/events`;

let platform: GatewayPlatform;
let issuer: TokenIssuer;
let gw1: GatewayProcess;
let gw2: GatewayProcess;
let topic: string;
let token: string;
let otherToken: string;

interface Answer {
  type: string;
  id?: string;
  eventId?: string;
  code?: string;
  status?: number;
  session?: string;
  resumed?: boolean;
}

/** A WebSocket client that collects the gateway's answers. */
class StreamClient {
  readonly ws: WebSocket;
  readonly answers: Answer[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(
    gateway: GatewayProcess,
    pipeline: string,
    options: { token?: string; session?: string; protocols?: string[]; autoPong?: boolean } = {},
  ) {
    const url = `ws://127.0.0.1:${gateway.httpPort}/v1/pipelines/${pipeline}/stream${options.session ? `?session=${options.session}` : ''}`;
    this.ws = new WebSocket(url, options.protocols ?? [], {
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      autoPong: options.autoPong ?? true,
    });
    this.ws.on('message', (data) => this.answers.push(JSON.parse(data.toString()) as Answer));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) =>
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })),
      );
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve(code)));
  }

  send(id: string, event: unknown): void {
    this.ws.send(JSON.stringify({ id, event }));
  }

  async answer(predicate: (a: Answer) => boolean, timeoutMs = 15_000): Promise<Answer> {
    return eventually(
      () => {
        const found = this.answers.find(predicate);
        assert.ok(found, `no such answer among ${JSON.stringify(this.answers.slice(-5))}`);
        return found;
      },
      timeoutMs,
      20,
    );
  }

  acks(): Answer[] {
    return this.answers.filter((a) => a.type === 'ack');
  }
}

async function upgradeStatus(gateway: GatewayProcess, pipeline: string, token?: string): Promise<number> {
  const client = new StreamClient(gateway, pipeline, { token });
  try {
    await client.opened;
    client.ws.close();
    return 101;
  } catch (err) {
    return (err as { status: number }).status;
  }
}

function grpcClient(gateway: GatewayProcess) {
  const definition = loadSync(join(root, 'dataplane', 'proto', 'weir', 'v1', 'ingest.proto'), {
    keepCase: false,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const { weir } = grpc.loadPackageDefinition(definition) as unknown as {
    weir: { v1: { Ingest: grpc.ServiceClientConstructor } };
  };
  return new weir.v1.Ingest(
    `127.0.0.1:${gateway.grpcPort}`,
    grpc.credentials.createInsecure(),
  ) as unknown as grpc.Client & {
    publish(
      req: object,
      md: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: { eventIds: string[] }) => void,
    ): void;
    stream(
      md: grpc.Metadata,
    ): grpc.ClientDuplexStream<object, { id: string; eventId: string; error?: { code: string } }>;
  };
}

function bearer(t: string, extra: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${t}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

function unary(gateway: GatewayProcess, request: object, metadata: grpc.Metadata): Promise<{ eventIds: string[] }> {
  const client = grpcClient(gateway);
  return new Promise((resolve, reject) =>
    client.publish(request, metadata, { deadline: Date.now() + 10_000 }, (err, res) => {
      client.close();
      return err ? reject(err) : resolve(res!);
    }),
  );
}

before(async () => {
  assert.ok(hasLocalEnv(), 'the gateway e2e tests need the local environment for Kafka and Redis');
  platform = await gatewayPlatform('gateway-streams-e2e');
  issuer = await TokenIssuer.start('https://streams.e2e.weir.dev/');
  await Promise.all([
    tenantWithIssuers(platform.clients, 'gws', [issuer], { webSocketConnections: 3 }),
    tenantWithIssuers(platform.clients, 'gwt', [issuer]),
  ]);
  [topic] = await Promise.all([
    pipelineWithTopics(platform.clients, S, 'events', {
      source: { partitions: 2, partitionKey: '/device', ingestion: { rest: true, webSocket: true, grpc: true } },
    }),
    pipelineWithTopics(platform.clients, S, 'restonly', { source: { partitions: 1 } }),
    pipelineWithTopics(platform.clients, 'tenant-gwt', 'other', {
      source: { partitions: 1, ingestion: { webSocket: true, grpc: true } },
    }),
  ]);
  const streamEnv = { WEIR_CONNECTION_LEASE_SECONDS: '4', WEIR_HEARTBEAT_SECONDS: '1' };
  [gw1, gw2] = await Promise.all([
    readyGateway(platform, 'gws-1', streamEnv),
    readyGateway(platform, 'gws-2', streamEnv),
  ]);
  token = await issuer.token('gws', { sub: 'device-fleet' });
  otherToken = await issuer.token('gwt', { sub: 'intruder' });
});

after(async () => {
  await Promise.all([gw1?.stop(), gw2?.stop()]);
  await platform?.operator.kill();
  await issuer?.close();
});

describe('WebSocket ingestion', () => {
  it('welcomes an authenticated client and acknowledges each message by id once it is in the topic', async () => {
    const client = new StreamClient(gw1, EVENTS, { token });
    await client.opened;
    assert.equal((await client.answer((a) => a.type === 'welcome')).resumed, false);
    for (let i = 0; i < 20; i++) client.send(`m-${i}`, { device: `d-${i % 4}`, n: i });
    await eventually(() => assert.equal(client.acks().length, 20), 15_000, 50);
    const records = await readTopic(topic, { until: hasEvents(client.acks().map((a) => a.eventId!)) });
    for (const ack of client.acks())
      assert.ok(
        records.some((r) => r.headers['weir-event-id'] === ack.eventId),
        ack.id,
      );
    client.ws.close();
  });

  it('takes the token as a subprotocol, as browsers must send it, and answers with weir.v1', async () => {
    const client = new StreamClient(gw2, EVENTS, { protocols: ['weir.v1', `weir.bearer.${token}`] });
    await client.opened;
    assert.equal(client.ws.protocol, 'weir.v1');
    client.ws.close();
  });

  it('refuses the upgrade without a token, with another tenant’s, and for a pipeline without WebSocket', async () => {
    assert.equal(await upgradeStatus(gw1, EVENTS), 401);
    assert.equal(await upgradeStatus(gw1, EVENTS, otherToken), 403);
    assert.equal(await upgradeStatus(gw1, `${S}/restonly`, token), 404);
    assert.equal(await upgradeStatus(gw1, 'tenant-gwt/other', token), 403);
  });

  it('answers a malformed message and an event without its partition key with a nack naming the problem', async () => {
    const client = new StreamClient(gw1, EVENTS, { token });
    await client.opened;
    client.ws.send('not json');
    client.send('no-key', { n: 1 });
    const garbage = await client.answer((a) => a.type === 'nack' && a.id === undefined);
    assert.equal(garbage.code, 'WEIR_INVALID_REQUEST');
    const missing = (await client.answer((a) => a.id === 'no-key')) as Answer & { errors: { pointer: string }[] };
    assert.deepEqual([missing.type, missing.status, missing.errors[0]!.pointer], ['nack', 400, '/device']);
    client.ws.close();
  });

  it('resumes a session on another gateway without losing or duplicating a message', async () => {
    const session = `resume-${Date.now()}`;
    const first = new StreamClient(gw1, EVENTS, { token, session });
    await first.opened;
    const ids = Array.from({ length: 60 }, (_, i) => `r-${i}`);
    for (const id of ids) first.send(id, { device: 'resumer', id });
    await eventually(() => assert.ok(first.acks().length >= 10), 15_000, 5);
    // The connection breaks with messages unanswered.
    first.ws.terminate();
    const acked = new Set(first.acks().map((a) => a.id));
    const second = new StreamClient(gw2, EVENTS, { token, session });
    await second.opened;
    assert.equal((await second.answer((a) => a.type === 'welcome')).resumed, true);
    for (const id of ids.filter((i) => !acked.has(i))) second.send(id, { device: 'resumer', id });
    await eventually(() => assert.equal(acked.size + second.acks().length, ids.length), 20_000, 50);
    second.ws.close();
    const written = (await readTopic(topic)).filter((r) =>
      r.headers['weir-idempotency-key']?.startsWith(`stream:${session}:`),
    );
    const byId = new Map<string, number>();
    for (const r of written) byId.set(JSON.parse(r.value).id, (byId.get(JSON.parse(r.value).id) ?? 0) + 1);
    assert.deepEqual([...byId.keys()].sort(), [...ids].sort());
    assert.ok(
      [...byId.values()].every((n) => n === 1),
      JSON.stringify([...byId].filter(([, n]) => n !== 1)),
    );
  });

  it("caps the tenant's connections across both gateways, and frees a place when one closes", async () => {
    const open = [
      new StreamClient(gw1, EVENTS, { token }),
      new StreamClient(gw1, EVENTS, { token }),
      new StreamClient(gw2, EVENTS, { token }),
    ];
    await Promise.all(open.map((c) => c.opened));
    assert.equal(await upgradeStatus(gw2, EVENTS, token), 429);
    assert.equal(await upgradeStatus(gw1, EVENTS, token), 429);
    open[0]!.ws.close();
    await open[0]!.closed;
    await eventually(async () => assert.equal(await upgradeStatus(gw2, EVENTS, token), 101), 10_000);
    for (const c of open.slice(1)) c.ws.close();
    await Promise.all(open.map((c) => c.closed));
  });

  it("frees a crashed gateway's places once their leases expire", async () => {
    const doomed = await readyGateway(platform, 'gws-doomed', { WEIR_CONNECTION_LEASE_SECONDS: '4' });
    const held = [
      new StreamClient(doomed, EVENTS, { token }),
      new StreamClient(doomed, EVENTS, { token }),
      new StreamClient(doomed, EVENTS, { token }),
    ];
    await Promise.all(held.map((c) => c.opened));
    assert.equal(await upgradeStatus(gw1, EVENTS, token), 429);
    await doomed.kill();
    await eventually(async () => assert.equal(await upgradeStatus(gw1, EVENTS, token), 101), 15_000, 500);
  });

  it('drops a client that stops answering pings', async () => {
    const silent = new StreamClient(gw2, EVENTS, { token, autoPong: false });
    await silent.opened;
    const code = await silent.closed;
    assert.equal(code, 1006);
    await eventually(
      async () =>
        assert.equal(
          metricValue(await gw2.metrics(), 'weir_gateway_stream_connections', { tenant: 'gws', protocol: 'webSocket' }),
          0,
        ),
      10_000,
    );
  });

  it("applies a policy's per-message limits to the stream", async () => {
    await applyWeirObject(platform.clients.custom, {
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'stream-limits', namespace: S },
      spec: {
        targetRef: { kind: 'Pipeline', name: 'events' },
        rules: [{ name: 'roomy', key: { source: 'Global' }, rate: 100_000 }],
        streams: { messagesPerSecond: 5, maxMessageBytes: 200 },
      },
    } as never);
    await eventually(async () => {
      const client = new StreamClient(gw1, EVENTS, { token });
      await client.opened;
      const welcome = (await client.answer((a) => a.type === 'welcome')) as Answer & {
        limits: { messagesPerSecond?: number };
      };
      client.ws.close();
      assert.equal(welcome.limits.messagesPerSecond, 5);
    }, 20_000);
    const client = new StreamClient(gw1, EVENTS, { token });
    await client.opened;
    for (let i = 0; i < 15; i++) client.send(`fast-${i}`, { device: 'd', i });
    client.send('big', { device: 'd', pad: 'x'.repeat(300) });
    await eventually(
      () => assert.equal(client.answers.filter((a) => a.id?.startsWith('fast-') || a.id === 'big').length, 16),
      15_000,
      50,
    );
    const nacks = client.answers.filter((a) => a.type === 'nack' && a.id?.startsWith('fast-'));
    assert.ok(
      nacks.length >= 9 && nacks.every((a) => a.code === 'WEIR_RATE_LIMITED'),
      JSON.stringify(nacks.slice(0, 3)),
    );
    assert.equal((await client.answer((a) => a.id === 'big')).code, 'WEIR_PAYLOAD_TOO_LARGE');
    client.ws.close();
    await deleteWeirObject(platform.clients.custom, {
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'stream-limits', namespace: S },
    });
  });
});

describe('gRPC ingestion', () => {
  it('publishes one event and answers with its id once it is in the topic', async () => {
    const res = await unary(
      gw1,
      { pipeline: EVENTS, json: Buffer.from(JSON.stringify({ device: 'grpc-1', n: 1 })) },
      bearer(token),
    );
    assert.equal(res.eventIds.length, 1);
    assert.ok(hasEvents(res.eventIds)(await readTopic(topic, { until: hasEvents(res.eventIds) })));
  });

  const refusals: [string, () => Promise<unknown>, grpc.status, string][] = [
    [
      'without a token',
      () => unary(gw1, { pipeline: EVENTS, json: Buffer.from('{"device":"d"}') }, new grpc.Metadata()),
      grpc.status.UNAUTHENTICATED,
      'WEIR_UNAUTHENTICATED',
    ],
    [
      "with another tenant's token",
      () => unary(gw1, { pipeline: EVENTS, json: Buffer.from('{"device":"d"}') }, bearer(otherToken)),
      grpc.status.PERMISSION_DENIED,
      'WEIR_FORBIDDEN',
    ],
    [
      'for a pipeline without gRPC',
      () => unary(gw1, { pipeline: `${S}/restonly`, json: Buffer.from('{}') }, bearer(token)),
      grpc.status.NOT_FOUND,
      'WEIR_NOT_FOUND',
    ],
    [
      'with broken JSON',
      () => unary(gw2, { pipeline: EVENTS, json: Buffer.from('{"device":') }, bearer(token)),
      grpc.status.INVALID_ARGUMENT,
      'WEIR_INVALID_EVENT',
    ],
    [
      'with a malformed pipeline name',
      () => unary(gw2, { pipeline: 'no-slash', json: Buffer.from('{}') }, bearer(token)),
      grpc.status.INVALID_ARGUMENT,
      'WEIR_INVALID_REQUEST',
    ],
  ];
  for (const [name, call, code, weirCode] of refusals) {
    it(`refuses a call ${name} with ${grpc.status[code]}`, async () => {
      await assert.rejects(call(), (err: grpc.ServiceError) => {
        assert.equal(err.code, code, err.details);
        assert.equal(err.metadata.get('weir-code')[0], weirCode);
        return true;
      });
    });
  }

  it('streams events and acknowledges each by id', async () => {
    const client = grpcClient(gw2);
    const call = client.stream(bearer(token, { 'weir-pipeline': EVENTS }));
    const acks: { id: string; eventId: string; error?: { code: string } }[] = [];
    call.on('data', (ack) => acks.push(ack));
    const ended = new Promise((resolve) => call.on('end', resolve));
    for (let i = 0; i < 10; i++)
      call.write({ id: `g-${i}`, json: Buffer.from(JSON.stringify({ device: 'grpc-stream', i })) });
    call.write({ id: 'bad', json: Buffer.from('{"i":1}') });
    call.end();
    await ended;
    client.close();
    assert.equal(acks.filter((a) => a.eventId).length, 10);
    assert.equal(acks.find((a) => a.id === 'bad')?.error?.code, 'WEIR_INVALID_EVENT');
  });
});
