import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig, type V1LimitRange, type V1NetworkPolicy } from '@kubernetes/client-node';
import { KubeClient, toWire } from './kube-client.ts';

/** What goes over the wire: JSON drops the undefined properties the serializer fills in. */
const sent = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('toWire', () => {
  it("spells client-node's typed models the way the API server does", () => {
    const limits: V1LimitRange = {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'l' },
      spec: { limits: [{ type: 'Container', _default: { cpu: '1' } }] },
    };
    assert.deepEqual(sent(toWire(limits)), {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'l' },
      spec: { limits: [{ type: 'Container', default: { cpu: '1' } }] },
    });
    const policy: V1NetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'p' },
      spec: { podSelector: {}, ingress: [{ _from: [{ podSelector: {} }] }] },
    };
    assert.deepEqual((sent(toWire(policy)) as { spec: unknown }).spec, {
      podSelector: {},
      ingress: [{ from: [{ podSelector: {} }] }],
    });
  });

  it('leaves objects of other API groups as they are', () => {
    const tenant = { apiVersion: 'weir.dev/v1alpha1', kind: 'Tenant', metadata: { name: 't' }, spec: { _default: 1 } };
    assert.equal(toWire(tenant), tenant);
  });
});

/** An HTTP server that answers every request with `respond`, and a KubeClient pointed at it. */
async function serving(respond: (res: ServerResponse, url: URL) => void) {
  const urls: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://localhost');
    urls.push(url);
    respond(res, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // Plain HTTP, which client-node allows only with skipTLSVerify.
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const close = () =>
    new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    });
  return { requests: new KubeClient(kc, { fieldManager: 'weir-test' }), urls, close };
}

/** Runs a watch to its end; resolves with the events and the error `done` got. */
function watched(requests: KubeClient, query: Record<string, unknown> = {}) {
  const events: [string, unknown][] = [];
  return new Promise<{ events: [string, unknown][]; err: unknown }>((resolve) => {
    void requests.watch(
      '/api/v1/namespaces',
      query,
      (type, obj) => events.push([type, obj]),
      (err) => resolve({ events, err }),
    );
  });
}

describe('KubeClient.watch', () => {
  it('hands over each event once, however the lines are cut into chunks, and ends with no error', async () => {
    const lines = [
      { type: 'ADDED', object: { metadata: { name: 'a' } } },
      { type: 'MODIFIED', object: { metadata: { name: 'b', labels: { x: 'é' } } } },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } },
    ]
      .map((e) => `${JSON.stringify(e)}\n`)
      .join('');
    const bytes = Buffer.from(lines);
    const { requests, urls, close } = await serving((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Cut mid-line, mid-character (é is two bytes), and with two lines in one chunk.
      const cuts = [5, bytes.indexOf('é') + 1, bytes.length - 3];
      let from = 0;
      for (const to of [...cuts, bytes.length]) {
        res.write(bytes.subarray(from, to));
        from = to;
      }
      res.end();
    });
    try {
      const { events, err } = await watched(requests, {
        resourceVersion: '7',
        labelSelector: 'a=b',
        skipped: undefined,
      });
      assert.equal(err, null);
      assert.deepEqual(events, [
        ['ADDED', { metadata: { name: 'a' } }],
        ['MODIFIED', { metadata: { name: 'b', labels: { x: 'é' } } }],
        ['BOOKMARK', { metadata: { resourceVersion: '9' } }],
      ]);
      assert.deepEqual(Object.fromEntries(urls[0]!.searchParams), {
        watch: 'true',
        resourceVersion: '7',
        labelSelector: 'a=b',
      });
    } finally {
      await close();
    }
  });

  it('hands over a last event that has no newline after it', async () => {
    const { requests, close } = await serving((res) => {
      res.writeHead(200);
      res.end(
        `${JSON.stringify({ type: 'ADDED', object: { n: 1 } })}\n${JSON.stringify({ type: 'DELETED', object: { n: 1 } })}`,
      );
    });
    try {
      const { events, err } = await watched(requests);
      assert.equal(err, null);
      assert.deepEqual(events, [
        ['ADDED', { n: 1 }],
        ['DELETED', { n: 1 }],
      ]);
    } finally {
      await close();
    }
  });

  it('ends with the status code and the Status of an answer other than 200', async () => {
    const { requests, close } = await serving((res) => {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', reason: 'Expired', code: 410 }));
    });
    try {
      const { events, err } = await watched(requests);
      assert.deepEqual(events, []);
      assert.equal((err as { statusCode?: number }).statusCode, 410);
      assert.equal((err as { body?: { reason?: string } }).body?.reason, 'Expired');
    } finally {
      await close();
    }
  });

  it('stops handing over events once aborted, and calls done once', async () => {
    let respond!: ServerResponse;
    const { requests, close } = await serving((res) => {
      respond = res;
      res.writeHead(200);
      res.write(`${JSON.stringify({ type: 'ADDED', object: { n: 1 } })}\n`);
    });
    try {
      const events: unknown[] = [];
      let dones = 0;
      const first = new Promise<void>((resolve) => {
        void requests
          .watch(
            '/x',
            {},
            (_type, obj) => (events.push(obj), resolve()),
            () => dones++,
          )
          .then((controller) => first.then(() => controller.abort()));
      });
      await first;
      await new Promise((resolve) => setTimeout(resolve, 50));
      respond.write(`${JSON.stringify({ type: 'ADDED', object: { n: 2 } })}\n`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(events, [{ n: 1 }]);
      assert.equal(dones, 1);
      respond.end();
    } finally {
      await close();
    }
  });
});
