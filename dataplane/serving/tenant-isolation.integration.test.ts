/**
 * Tenants are hostile: every REST route, GraphQL field and subscription, and gRPC method is
 * tried with another tenant's token, with another tenant's pipeline name, and with tokens
 * that claim another tenant. A foreign pipeline must be indistinguishable from one that does
 * not exist, and no answer may carry another tenant's data. Both tenants have a pipeline of
 * the same name with different results, so a read that crossed tenants would show. Run
 * under `node hack/local-env/cli.ts run --with redis,postgres -- node --test <this file>`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SignJWT, generateKeyPair } from 'jose';
import { WebSocket } from 'ws';
import { result, startServingFixture, type ServingFixture } from './testing/serving-fixture.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const FROM = T0 - 3_600_000;

let f: ServingFixture;
let rivalToken: string;

before(async () => {
  f = await startServingFixture();
  rivalToken = await f.rival.token();
  await f.write(f.acme, [
    result('per_user', ['u1'], T0, 3),
    result('per_user', ['acme-only'], T0, 1),
    result('per_user', ['u1'], T0 - 60_000, 30, true),
  ]);
  await f.write(f.rival, [result('per_user', ['u1'], T0, 99), result('per_user', ['u1'], T0 - 60_000, 990, true)]);
});
after(() => f?.close());

/** Every REST read of a pipeline, by path below `/v1/pipelines/<namespace>/<name>`. */
const REST_ROUTES = [
  '/aggregations/per_user/current',
  `/aggregations/per_user/current?groupKey=${encodeURIComponent('["u1"]')}`,
  `/aggregations/per_user/current/${encodeURIComponent('["u1"]')}`,
  `/aggregations/per_user/history?from=${FROM}&to=${T0}`,
];

interface Problem {
  code: string;
  title: string;
  detail: string;
}

describe('REST', () => {
  for (const route of REST_ROUTES)
    it(`answers another tenant's pipeline as it answers none at all: ${route}`, async () => {
      const foreign = await f.http(`/v1/pipelines/${f.acme.namespace}/${f.pipeline}${route}`, { token: rivalToken });
      const missing = await f.http(`/v1/pipelines/${f.rival.namespace}/no-such-pipeline${route}`, {
        token: rivalToken,
      });
      const unknownNamespace = await f.http(`/v1/pipelines/tenant-nobody/${f.pipeline}${route}`, { token: rivalToken });
      for (const r of [foreign, missing, unknownNamespace]) assert.equal(r.status, 404);
      const [a, b, c] = (await Promise.all([foreign, missing, unknownNamespace].map((r) => r.json()))) as Problem[];
      const shape = (p: Problem) => ({
        code: p.code,
        title: p.title,
        detail: p.detail.replace(/ \S+\/\S+$/, ' <pipeline>'),
      });
      assert.deepEqual(shape(a!), shape(b!));
      assert.deepEqual(shape(a!), shape(c!));
      // The same members, and nothing of the pipeline beyond the name the caller gave.
      assert.deepEqual(Object.keys(a!).sort(), Object.keys(b!).sort());
    });

  it("lists only the caller's own pipelines and reads only its own results under the same names", async () => {
    const list = (await (await f.http('/v1/pipelines', { token: rivalToken })).json()) as {
      items: { namespace: string }[];
    };
    assert.deepEqual(
      list.items.map((p) => p.namespace),
      [f.rival.namespace],
    );
    const base = `/v1/pipelines/${f.rival.namespace}/${f.pipeline}/aggregations/per_user`;
    const current = (await (await f.http(`${base}/current`, { token: rivalToken })).json()) as {
      items: { groupKey: string; events: number }[];
    };
    assert.deepEqual(
      current.items.map((w) => [w.groupKey, w.events]),
      [['["u1"]', 99]],
    );
    const history = (await (await f.http(`${base}/history?from=${FROM}&to=${T0}`, { token: rivalToken })).json()) as {
      items: { events: number }[];
    };
    assert.deepEqual(
      history.items.map((w) => w.events),
      [990],
    );
  });

  it('refuses a token that claims another tenant, whichever issuer signed it', async () => {
    // The rival's issuer is not trusted by acme: a rival-signed token naming acme is no one's.
    const claimsAcme = await f.rival.token({ tenant: f.acme.name });
    // Acme's issuer signing a token for the rival: the rival does not trust acme's issuer.
    const acmeForRival = await f.acme.token({ tenant: f.rival.name });
    // A key nobody trusts, under acme's issuer name.
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ tenant: f.acme.name })
      .setProtectedHeader({ alg: 'ES256', kid: `k-${f.acme.name}` })
      .setIssuer(f.acme.issuer)
      .setAudience('weir')
      .setExpirationTime('1h')
      .sign(privateKey);
    for (const token of [claimsAcme, acmeForRival, forged])
      for (const ns of [f.acme.namespace, f.rival.namespace]) {
        const r = await f.http(`/v1/pipelines/${ns}/${f.pipeline}/aggregations/per_user/current`, { token });
        assert.equal(r.status, 401, `${ns}: ${await r.text()}`);
      }
  });
});

describe('GraphQL', () => {
  it("resolves another tenant's pipeline to null, like one that does not exist, and lists only the caller's", async () => {
    const { body } = await f.graphql(
      `{ foreign: pipeline(namespace: "${f.acme.namespace}", name: "${f.pipeline}") { name }
         missing: pipeline(namespace: "${f.rival.namespace}", name: "nothing") { name }
         own: pipeline(namespace: "${f.rival.namespace}", name: "${f.pipeline}") {
           aggregation(name: "per_user") {
             current { items { groupKey events } }
             currentWindow(groupKey: "[\\"acme-only\\"]") { events }
             history(from: "${FROM}", to: "${T0}") { items { events } } } }
         pipelines { namespace } }`,
      rivalToken,
    );
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.deepEqual(body.data, {
      foreign: null,
      missing: null,
      own: {
        aggregation: {
          current: { items: [{ groupKey: '["u1"]', events: 99 }] },
          currentWindow: null,
          history: { items: [{ events: 990 }] },
        },
      },
      pipelines: [{ namespace: f.rival.namespace }],
    });
  });

  it('refuses a query without a valid token before running it', async () => {
    const none = await f.graphql('{ pipelines { name } }', null);
    assert.equal(none.status, 401);
    const claimsAcme = await f.graphql('{ pipelines { name } }', await f.rival.token({ tenant: f.acme.name }));
    assert.equal(claimsAcme.status, 401);
  });

  it("refuses a subscription to another tenant's pipeline as not found", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${f.serving.httpPort}/graphql`, 'graphql-transport-ws', {
      headers: { authorization: `Bearer ${rivalToken}` },
    });
    const messages: { type: string; payload?: unknown }[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(String(m)) as { type: string }));
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'connection_init' }));
    ws.send(
      JSON.stringify({
        id: '1',
        type: 'subscribe',
        payload: {
          query: `subscription { windowUpdates(namespace: "${f.acme.namespace}", name: "${f.pipeline}", aggregation: "per_user") { type } }`,
        },
      }),
    );
    for (let i = 0; i < 100 && !messages.some((m) => m.type === 'error' || m.type === 'next'); i++)
      await new Promise((r) => setTimeout(r, 20));
    ws.close();
    const error = messages.find((m) => m.type === 'error' || m.type === 'next');
    assert.equal(error?.type, 'error', JSON.stringify(messages));
    assert.match(JSON.stringify(error?.payload), /WEIR_NOT_FOUND/);
  });

  it('refuses a WebSocket upgrade without a token', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${f.serving.httpPort}/graphql`, 'graphql-transport-ws');
    ws.on('error', () => undefined);
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(response.statusCode, 401);
  });
});

describe('gRPC', () => {
  const metadata = (token: string) => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${token}`);
    return m;
  };
  const unary = (method: string, request: object, token: string) =>
    new Promise((resolve, reject) =>
      f.grpcClient()[method]!(request, metadata(token), (err: Error | null, value: unknown) =>
        err ? reject(err) : resolve(value),
      ),
    );
  const foreign = () => `${f.acme.namespace}/${f.pipeline}`;

  it("answers Get and List of another tenant's pipeline NOT_FOUND, as for none at all", async () => {
    for (const pipeline of [foreign(), `${f.rival.namespace}/nothing`]) {
      await assert.rejects(unary('Get', { pipeline, aggregation: 'per_user', groupKey: '["u1"]' }, rivalToken), {
        code: grpc.status.NOT_FOUND,
      });
      await assert.rejects(unary('List', { pipeline, aggregation: 'per_user' }, rivalToken), {
        code: grpc.status.NOT_FOUND,
      });
    }
    const own = (await unary(
      'List',
      { pipeline: `${f.rival.namespace}/${f.pipeline}`, aggregation: 'per_user' },
      rivalToken,
    )) as { items: { events: number }[] };
    assert.deepEqual(
      own.items.map((w) => w.events),
      [99],
    );
  });

  it("refuses a Watch of another tenant's pipeline NOT_FOUND", async () => {
    const stream = f.grpcClient().Watch!(
      { pipeline: foreign(), aggregation: 'per_user' },
      metadata(rivalToken),
    ) as grpc.ClientReadableStream<unknown>;
    stream.on('data', () => assert.fail('no update of another tenant may arrive'));
    const [err] = (await once(stream, 'error')) as [grpc.ServiceError];
    assert.equal(err.code, grpc.status.NOT_FOUND);
  });

  it('refuses a token that claims another tenant as UNAUTHENTICATED', async () => {
    const claimsAcme = await f.rival.token({ tenant: f.acme.name });
    await assert.rejects(unary('List', { pipeline: foreign(), aggregation: 'per_user' }, claimsAcme), {
      code: grpc.status.UNAUTHENTICATED,
    });
  });
});
