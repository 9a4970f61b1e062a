/**
 * Serving against real Redis and Postgres: results written by the processor's own sinks are
 * read back through REST, GraphQL (queries and a WebSocket subscription) and gRPC. Run under
 * `node hack/local-env/cli.ts run --with redis,postgres -- node --test <this file>`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { WebSocket } from 'ws';
import { updatesChannel } from '../../lib/platform/results.ts';
import { result, startServingFixture, type ServingFixture } from './testing/serving-fixture.ts';

const MINUTE = 60_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');

let f: ServingFixture;
let token: string;
let base: string;

before(async () => {
  f = await startServingFixture();
  token = await f.acme.token();
  base = `/v1/pipelines/${f.acme.namespace}/${f.pipeline}/aggregations`;
  await f.write(f.acme, [
    result('per_user', ['u1'], T0, 3),
    result('per_user', ['u2'], T0, 5),
    result('per_user', ['u3'], T0, 7),
    result('per_region', ['eu'], T0, 4),
    result('overall', [], T0, 15),
    // Closed windows: these go to Postgres as well.
    ...[0, 1, 2, 3].map((i) => result('per_user', ['u1'], T0 - (i + 1) * MINUTE, 10 + i, true)),
    result('per_user', ['u2'], T0 - MINUTE, 20, true),
    result('per_region', ['eu'], T0 - MINUTE, 30, true),
  ]);
});
after(() => f?.close());

interface Win {
  groupKey: string;
  windowStart: number;
  final: boolean;
  events: number;
  measures: unknown;
  group: unknown;
}
/** What the tests read of a page, a window or a problem. */
interface Answer extends Win {
  items: Win[];
  nextCursor?: string;
  code: string;
  detail: string;
  errors: { parameter: string }[];
}
const json = async (r: Response) => ({
  status: r.status,
  type: r.headers.get('content-type'),
  body: (await r.json()) as Answer,
});

describe('REST', () => {
  it('lists the current windows of an aggregation a page at a time', async () => {
    const first = await json(await f.http(`${base}/per_user/current?limit=2`, { token }));
    assert.equal(first.status, 200);
    assert.equal(first.body.items.length, 2);
    assert.ok(first.body.nextCursor);
    const second = await json(
      await f.http(`${base}/per_user/current?limit=2&cursor=${first.body.nextCursor}`, { token }),
    );
    assert.equal(second.body.items.length, 1);
    assert.equal(second.body.nextCursor, undefined);
    const keys = [...first.body.items, ...second.body.items].map((w) => w.groupKey).sort();
    assert.deepEqual(keys, ['["u1"]', '["u2"]', '["u3"]']);
  });

  it('filters current windows by group key and reads one by its key', async () => {
    const filtered = await json(
      await f.http(
        `${base}/per_user/current?groupKey=${encodeURIComponent('["u2"]')}&groupKey=${encodeURIComponent('["u9"]')}`,
        {
          token,
        },
      ),
    );
    assert.deepEqual(
      filtered.body.items.map((w) => w.groupKey),
      ['["u2"]'],
    );
    const one = await json(await f.http(`${base}/per_user/current/${encodeURIComponent('["u3"]')}`, { token }));
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.measures, { n: 7, total: 70 });
    assert.deepEqual(one.body.group, { '/user': 'u3' });
    assert.equal(one.body.windowStart, T0);
    assert.equal(one.body.final, false);
    const missing = await json(await f.http(`${base}/per_user/current/${encodeURIComponent('["nobody"]')}`, { token }));
    assert.equal(missing.status, 404);
    assert.match(missing.type ?? '', /^application\/problem\+json/);
  });

  it('answers 304 to a request whose If-None-Match holds the current ETag, and 200 once the window changed', async () => {
    const path = `${base}/overall/current/${encodeURIComponent('[]')}`;
    const r = await f.http(path, { token });
    const tag = r.headers.get('etag');
    assert.ok(tag);
    assert.equal(r.headers.get('cache-control'), 'private, no-cache');
    const again = await f.http(path, { token, headers: { 'if-none-match': tag } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    await f.write(f.acme, [{ ...result('overall', [], T0, 16), revision: 2 }]);
    const changed = await f.http(path, { token, headers: { 'if-none-match': tag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get('etag'), tag);
    assert.equal(((await changed.json()) as Answer).events, 16);
  });

  it('reads closed windows from Postgres by window start, a page at a time, and by group key', async () => {
    const from = new Date(T0 - 10 * MINUTE).toISOString();
    const page1 = await json(await f.http(`${base}/per_user/history?from=${from}&to=${T0}&limit=3`, { token }));
    assert.equal(page1.status, 200, JSON.stringify(page1.body));
    assert.equal(page1.body.items.length, 3);
    const page2 = await json(
      await f.http(`${base}/per_user/history?from=${from}&to=${T0}&limit=3&cursor=${page1.body.nextCursor}`, { token }),
    );
    const all = [...page1.body.items, ...page2.body.items];
    assert.equal(all.length, 5);
    assert.equal(page2.body.nextCursor, undefined);
    const starts = all.map((w) => w.windowStart);
    assert.deepEqual(
      starts,
      [...starts].sort((x, y) => x - y),
    );
    assert.ok(all.every((w) => w.final));
    const u2 = await json(
      await f.http(`${base}/per_user/history?from=${from}&to=${T0}&groupKey=${encodeURIComponent('["u2"]')}`, {
        token,
      }),
    );
    assert.deepEqual(
      u2.body.items.map((w) => w.events),
      [20],
    );
  });

  const badRequests: [string, string, string][] = [
    ['a limit that is not a number', '/per_user/current?limit=many', 'limit'],
    ['a limit above the largest page', '/per_user/current?limit=100000', 'limit'],
    ['a cursor this API did not give out', '/per_user/current?cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ['a group key that is not a JSON array', '/per_user/current?groupKey=u1', 'groupKey'],
    ['a group key with the wrong number of values', `/per_user/current/${encodeURIComponent('["a","b"]')}`, 'groupKey'],
    ['a from that is not a time', '/per_user/history?from=yesterday', 'from'],
    ['a from after to', `/per_user/history?from=${T0}&to=${T0 - 1}`, 'from'],
    ['an aggregation name that cannot exist', '/Per-User/current', 'aggregation'],
  ];
  for (const [what, path, parameter] of badRequests)
    it(`refuses ${what} with a problem naming ${parameter}`, async () => {
      const r = await json(await f.http(`${base}${path}`, { token }));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.type ?? '', /^application\/problem\+json/);
      assert.equal(r.body.code, 'WEIR_INVALID_REQUEST');
      assert.match(r.body.detail, new RegExp(`\\b${parameter}\\b`));
      assert.equal(r.body.errors[0]?.parameter, parameter);
    });

  it('asks for a token, and refuses a bad one', async () => {
    const none = await f.http(`${base}/per_user/current`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="weir"');
    const forged = await f.http(`${base}/per_user/current`, { token: `${token.slice(0, -4)}AAAA` });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as Answer).code, 'WEIR_INVALID_TOKEN');
  });
});

describe('GraphQL', () => {
  it('answers pipelines, aggregations, current and history windows', async () => {
    const { status, body } = await f.graphql(
      `query($ns: String!) { pipeline(namespace: $ns, name: "orders") {
          name
          aggregation(name: "per_user") {
            groupBy
            current(first: 10) { items { groupKey measures events } nextCursor }
            currentWindow(groupKey: "[\\"u1\\"]") { events }
            history(from: "${T0 - 10 * MINUTE}", to: "${T0}", first: 2) { items { windowStart } nextCursor }
          } } }`,
      token,
      { ns: f.acme.namespace },
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const agg = (body.data!.pipeline as { aggregation: unknown }).aggregation as {
      groupBy: string[];
      current: { items: { groupKey: string }[] };
      currentWindow: { events: number };
      history: { items: unknown[]; nextCursor: string };
    };
    assert.deepEqual(agg.groupBy, ['/user']);
    assert.equal(agg.current.items.length, 3);
    assert.equal(agg.currentWindow.events, 3);
    assert.equal(agg.history.items.length, 2);
    assert.ok(agg.history.nextCursor);
  });

  it('reads the windows of every aggregation with two Redis round trips and one Postgres query', async () => {
    const query = `{ pipelines { aggregations { name
        current(first: 10) { items { groupKey events } }
        history(from: "${T0 - 10 * MINUTE}", to: "${T0}", first: 10) { items { events } } } } }`;
    const before = await f.backendCalls();
    const { body } = await f.graphql(query, token);
    const after = await f.backendCalls();
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const aggs = (body.data!.pipelines as { aggregations: { current: { items: unknown[] } }[] }[])[0]!.aggregations;
    assert.equal(aggs.length, 3);
    assert.deepEqual(
      aggs.map((a) => a.current.items.length),
      [3, 1, 1],
    );
    // Three aggregations, five windows: one batch of index reads, one of hash reads, one SQL statement.
    assert.deepEqual(
      { redis: after.redis - before.redis, postgres: after.postgres - before.postgres },
      { redis: 2, postgres: 1 },
    );
  });

  it('refuses a query deeper than the depth limit, such as a deep introspection', async () => {
    const ofType = (n: number): string => (n === 0 ? 'name' : `name ofType { ${ofType(n - 1)} }`);
    const shallow = await f.graphql(`{ __schema { types { fields { type { ${ofType(1)} } } } } }`, token);
    assert.equal(shallow.body.errors, undefined, JSON.stringify(shallow.body.errors));
    const deep = await f.graphql(`{ __schema { types { fields { type { ${ofType(8)} } } } } }`, token);
    assert.equal(deep.status, 400);
    assert.match(deep.body.errors?.[0]?.message ?? '', /depth/);
  });

  it('refuses a query that would cost more than the limit, before reading anything', async () => {
    const before = await f.backendCalls();
    const { status, body } = await f.graphql(
      '{ pipelines { aggregations { current(first: 1000) { items { groupKey } } history(first: 1000) { items { groupKey } } } } }',
      token,
    );
    assert.equal(status, 400);
    assert.equal(body.errors?.[0]?.extensions?.code, 'WEIR_QUERY_TOO_COMPLEX');
    assert.match(body.errors![0]!.message, /costs \d+, more than the limit of 50000/);
    assert.deepEqual(await f.backendCalls(), before);
  });

  it('pushes window updates to WebSocket subscribers, sharing one Redis subscription', async () => {
    const channel = updatesChannel(f.acme.name, f.pipeline, 'per_region');
    const subscribe = async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${f.serving.httpPort}/graphql`, 'graphql-transport-ws', {
        headers: { authorization: `Bearer ${token}` },
      });
      const messages: { type: string; payload?: { data?: { windowUpdates: Record<string, unknown> } } }[] = [];
      ws.on('message', (m) => messages.push(JSON.parse(String(m))));
      await once(ws, 'open');
      ws.send(JSON.stringify({ type: 'connection_init' }));
      ws.send(
        JSON.stringify({
          id: '1',
          type: 'subscribe',
          payload: {
            query: `subscription { windowUpdates(namespace: "${f.acme.namespace}", name: "orders", aggregation: "per_region") {
              type groupKey revision result { measures } } }`,
          },
        }),
      );
      return { ws, messages };
    };
    const one = await subscribe();
    const two = await subscribe();
    const subscribers = async () => ((await f.admin.redis.pubsub('NUMSUB', channel)) as [string, number])[1];
    for (let i = 0; i < 100 && (await subscribers()) < 1; i++) await new Promise((r) => setTimeout(r, 20));
    // Give the second subscriber's subscribe a moment to reach the hub too.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await subscribers(), 1, 'two GraphQL subscribers share one Redis subscription');
    await f.write(f.acme, [{ ...result('per_region', ['eu'], T0, 9), revision: 2 }]);
    for (const s of [one, two]) {
      for (let i = 0; i < 100 && !s.messages.some((m) => m.type === 'next'); i++)
        await new Promise((r) => setTimeout(r, 20));
      const next = s.messages.find((m) => m.type === 'next');
      assert.deepEqual(next?.payload?.data?.windowUpdates, {
        type: 'result',
        groupKey: '["eu"]',
        revision: 2,
        result: { measures: { n: 9, total: 90 } },
      });
      s.ws.close();
    }
    for (let i = 0; i < 100 && (await subscribers()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await subscribers(), 0, 'the subscription ends with its last subscriber');
  });
});

describe('gRPC', () => {
  const metadata = () => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${token}`);
    return m;
  };
  const call = <T>(method: string, request: object, m = metadata(), options: grpc.CallOptions = {}) =>
    new Promise<T>((resolve, reject) =>
      f.grpcClient()[method]!(request, m, options, (err: Error | null, value: T) =>
        err ? reject(err) : resolve(value),
      ),
    );

  it('gets one window and lists an aggregation a page at a time', async () => {
    const pipeline = `${f.acme.namespace}/${f.pipeline}`;
    const one = await call<{ events: number; measuresJson: string }>('Get', {
      pipeline,
      aggregation: 'per_user',
      groupKey: '["u2"]',
    });
    assert.equal(one.events, 5);
    assert.deepEqual(JSON.parse(one.measuresJson), { n: 5, total: 50 });
    const page = await call<{ items: unknown[]; nextCursor: string }>('List', {
      pipeline,
      aggregation: 'per_user',
      limit: 2,
    });
    assert.equal(page.items.length, 2);
    const rest = await call<{ items: unknown[]; nextCursor: string }>('List', {
      pipeline,
      aggregation: 'per_user',
      limit: 2,
      cursor: page.nextCursor,
    });
    assert.equal(rest.items.length, 1);
    assert.equal(rest.nextCursor, '');
  });

  it('refuses a bad group key as INVALID_ARGUMENT and a call without a token as UNAUTHENTICATED', async () => {
    const pipeline = `${f.acme.namespace}/${f.pipeline}`;
    await assert.rejects(call('Get', { pipeline, aggregation: 'per_user', groupKey: 'u2' }), {
      code: grpc.status.INVALID_ARGUMENT,
    });
    await assert.rejects(call('Get', { pipeline, aggregation: 'per_user', groupKey: '["u2"]' }, new grpc.Metadata()), {
      code: grpc.status.UNAUTHENTICATED,
    });
  });

  it('streams updates to a watch and ends it at its deadline', async () => {
    const client = f.grpcClient();
    const stream = client.Watch!(
      { pipeline: `${f.acme.namespace}/${f.pipeline}`, aggregation: 'per_user', groupKey: '["u1"]' },
      metadata(),
      { deadline: Date.now() + 1_500 },
    ) as grpc.ClientReadableStream<{ type: string; revision: number; result?: { events: number } }>;
    const updates: { type: string; revision: number; result?: { events: number } }[] = [];
    stream.on('data', (u) => updates.push(u));
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    await once(stream, 'metadata');
    await f.write(f.acme, [
      { ...result('per_user', ['u2'], T0, 6), revision: 2 },
      { ...result('per_user', ['u1'], T0, 4), revision: 2 },
    ]);
    const err = await ended;
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.deepEqual(
      updates.map((u) => [u.type, u.revision, u.result?.events]),
      [['result', 2, 4]],
    );
  });
});
