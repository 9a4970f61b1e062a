/**
 * Benchmark: N Tenants created at once until all are Ready, against the raw rate at which
 * the same API server takes N plain writes (ConfigMaps) from the same client in the same
 * run. Also reports reconcile p50/p99 from the operator's histogram and the operator's
 * heap per cached object. Run it with `npm run bench` (inside the local environment).
 *
 *   node bench/tenants-to-ready.ts [--tenants 1000] [--concurrency 32]
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyWeirObject, connect, ensureNamespace, installCrds } from '../e2e/cluster.ts';
import { OperatorProcess } from '../e2e/operator-process.ts';

const { values } = parseArgs({ options: { tenants: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '32' } } });
const N = Number(values.tenants);
const C = Number(values.concurrency);
const clients = connect();
const run = Date.now().toString(36);

/** Runs `task` for 0..n-1 with at most `c` in flight. */
async function pool(n: number, c: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) await task(next++);
  }));
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

/** A quantile estimated from a Prometheus histogram's cumulative buckets. */
function quantile(text: string, name: string, q: number): number {
  const buckets = text
    .split('\n')
    .filter((l) => l.startsWith(`${name}_bucket{`))
    .map((l) => ({ le: Number(/le="([^"]+)"/.exec(l)![1]!.replace('+Inf', 'Infinity')), count: Number(l.split(' ').at(-1)) }));
  const total = buckets.at(-1)?.count ?? 0;
  const target = total * q;
  let prev = { le: 0, count: 0 };
  for (const b of buckets) {
    if (b.count >= target) return b.le === Infinity ? prev.le : prev.le + ((b.le - prev.le) * (target - prev.count)) / Math.max(1, b.count - prev.count);
    prev = b;
  }
  return NaN;
}

await installCrds(clients);
await ensureNamespace(clients.core, 'weir-system');
const redis = new URL(process.env.WEIR_REDIS_URL!);
const postgres = new URL(process.env.WEIR_POSTGRES_URL!);
for (const [name, username, password] of [['bench-redis', 'default', redis.password], ['bench-postgres', postgres.username, postgres.password]] as const) {
  await clients.core.deleteNamespacedSecret({ namespace: 'weir-system', name }).catch(() => undefined);
  await clients.core.createNamespacedSecret({ namespace: 'weir-system', body: { metadata: { name }, stringData: { username: decodeURIComponent(username), password: decodeURIComponent(password) } } });
}
await applyWeirObject(clients.custom, {
  apiVersion: 'weir.dev/v1alpha1',
  kind: 'Region',
  metadata: { name: 'bench' },
  spec: {
    kafka: { bootstrapServers: [process.env.WEIR_KAFKA_BROKERS!] },
    redis: { endpoints: [redis.host], adminCredentialsSecretRef: { namespace: 'weir-system', name: 'bench-redis' } },
    postgres: { primary: postgres.host, database: 'postgres', adminCredentialsSecretRef: { namespace: 'weir-system', name: 'bench-postgres' } },
  },
} as never);

// Baseline: N plain writes to the same API server, same client, same concurrency.
await ensureNamespace(clients.core, `bench-raw-${run}`);
let t0 = performance.now();
await pool(N, C, (i) => clients.core.createNamespacedConfigMap({ namespace: `bench-raw-${run}`, body: { metadata: { name: `cm-${i}` }, data: { i: String(i) } } }));
const rawSeconds = (performance.now() - t0) / 1000;

const operator = new OperatorProcess('bench', { kubeconfig: process.env.KUBECONFIG!, namespace: 'weir-system', args: ['--leader-elect=false', '--concurrency=16', '--log-level=warn'] });
await operator.ready();
await sleep(2000);
const idle = await operator.metrics();

t0 = performance.now();
await pool(N, C, (i) =>
  applyWeirObject(clients.custom, {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name: `b${run}-${i}` },
    spec: { owners: [{ kind: 'User', name: 'bench' }], regions: ['bench'] },
  } as never),
);
for (;;) {
  const list = (await clients.custom.listClusterCustomObject({ group: 'weir.dev', version: 'v1alpha1', plural: 'tenants' })) as { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[] };
  const ready = list.items.filter((t) => t.metadata.name.startsWith(`b${run}-`) && t.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  if (ready === N) break;
  await sleep(500);
}
const weirSeconds = (performance.now() - t0) / 1000;
await sleep(2000);
const loaded = await operator.metrics();
await operator.stop();

const heapPerObject = (metric(loaded, 'nodejs_heap_size_used_bytes') - metric(idle, 'nodejs_heap_size_used_bytes')) / (N * 9);
const rows = [
  ['raw API writes (ConfigMaps)', `${N}`, `${rawSeconds.toFixed(2)} s`, `${(N / rawSeconds).toFixed(0)} /s`],
  ['Weir tenants to Ready', `${N}`, `${weirSeconds.toFixed(2)} s`, `${(N / weirSeconds).toFixed(1)} /s`],
];
console.log(`\nTenants to Ready against raw API writes (${N} each, client concurrency ${C}, operator concurrency 16)`);
for (const r of rows) console.log(`  ${r[0]!.padEnd(30)} ${r[1]!.padStart(6)}  ${r[2]!.padStart(9)}  ${r[3]!.padStart(9)}`);
console.log(`  ratio (Weir rate / raw rate): ${(rawSeconds / weirSeconds).toFixed(3)}  (goal ≥ 0.5)`);
console.log(`  reconcile p50 ${(quantile(loaded, 'controller_runtime_reconcile_time_seconds', 0.5) * 1000).toFixed(0)} ms, p99 ${(quantile(loaded, 'controller_runtime_reconcile_time_seconds', 0.99) * 1000).toFixed(0)} ms`);
console.log(`  operator heap growth per cached object (tenant + 8 children): ${(heapPerObject / 1024).toFixed(2)} KiB; resident ${(metric(loaded, 'process_resident_memory_bytes') / 2 ** 20).toFixed(0)} MiB`);
process.exit(0);
