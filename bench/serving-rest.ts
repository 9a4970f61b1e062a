/**
 * REST read of one current aggregate through serving (token check, tenant resolution, one
 * Redis HGETALL, JSON and ETag) against a plain fastify server answering the same JSON from
 * memory, in one process, with autocannon's load from a worker thread, alternating rounds so
 * that both see the same machine. Prints requests/s, p99 latency and the ratio.
 *
 *   node hack/local-env/cli.ts run --with redis,postgres -- node bench/serving-rest.ts
 *
 * Settings: BENCH_SECONDS (5) per round, BENCH_ROUNDS (3), BENCH_CONNECTIONS (16).
 */
import { createRequire } from 'node:module';
import Fastify from 'fastify';
import { result, startServingFixture } from '../dataplane/serving/testing/serving-fixture.ts';

interface Result {
  requests: { average: number };
  latency: { p99: number; average: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  workers?: number;
  headers?: Record<string, string>;
}) => Promise<Result>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);

const f = await startServingFixture();
const token = await f.acme.token();
const window = result('per_user', ['u1'], Date.parse('2030-01-01T00:00:00Z'), 42);
await f.write(f.acme, [window]);
const path = `/v1/pipelines/${f.acme.namespace}/${f.pipeline}/aggregations/per_user/current/${encodeURIComponent('["u1"]')}`;
const servingUrl = `http://127.0.0.1:${f.serving.httpPort}${path}`;
const check = await fetch(servingUrl, { headers: { authorization: `Bearer ${token}` } });
const body = await check.text();
if (check.status !== 200) throw new Error(`serving answered ${check.status}: ${body}`);

const plain = Fastify({ logger: false });
plain.get('/current', async (_req, reply) => reply.type('application/json; charset=utf-8').send(body));
await plain.listen({ host: '127.0.0.1', port: 0 });
const address = plain.server.address();
const plainUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/current`;

const runs: Record<'plain' | 'serving', Result[]> = { plain: [], serving: [] };
for (let i = 0; i < rounds; i++) {
  runs.plain.push(await autocannon({ url: plainUrl, connections, duration: seconds, workers: 1 }));
  runs.serving.push(
    await autocannon({
      url: servingUrl,
      connections,
      duration: seconds,
      workers: 1,
      headers: { authorization: `Bearer ${token}` },
    }),
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (name: 'plain' | 'serving') => ({
  rps: median(runs[name].map((r) => r.requests.average)),
  p99: median(runs[name].map((r) => r.latency.p99)),
  failed: runs[name].reduce((n, r) => n + r.non2xx + r.errors, 0),
});
const p = summary('plain');
const s = summary('serving');
console.log(
  `serving-rest: ${rounds} rounds of ${seconds}s, ${connections} connections, medians` +
    `\n  plain fastify from memory: ${p.rps.toFixed(0)} req/s, p99 ${p.p99} ms, ${p.failed} failed` +
    `\n  serving (auth + Redis):    ${s.rps.toFixed(0)} req/s, p99 ${s.p99} ms, ${s.failed} failed` +
    `\n  ratio serving/plain: ${(s.rps / p.rps).toFixed(2)} (throughput), p99 ${(s.p99 / Math.max(p.p99, 1)).toFixed(2)}x`,
);
await plain.close();
await f.close();
