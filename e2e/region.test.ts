/**
 * The Region controller against a real API server, Kafka, Redis and Postgres: a Region
 * reports each backend it names as reachable, with its latency; a backend that stops shows
 * as unreachable within a probe period or two, and recovers without a restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hasLocalEnv, startComponent, stopComponent } from '../hack/local-env/control-client.ts';
import type { Clients } from './cluster.ts';
import { eventually } from './eventually.ts';
import type { OperatorProcess } from './operator-process.ts';
import { REGION, setUpPlatform, startOperator } from './platform.ts';

interface RegionView {
  status?: {
    phase?: string;
    backends?: { name: string; reachable: boolean; latencyMs?: number; message?: string }[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

let clients: Clients;
let operator: OperatorProcess;

async function getRegion(): Promise<RegionView> {
  return (await clients.custom.getClusterCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'regions',
    name: REGION,
  })) as RegionView;
}

const reachable = (r: RegionView, name: string) => r.status?.backends?.find((b) => b.name === name)?.reachable;

before(async () => {
  assert.ok(hasLocalEnv(), 'the region e2e tests need the local environment for its backends and fault injection');
  const platform = await setUpPlatform();
  clients = platform.clients;
  operator = await startOperator(platform.operatorKube, 'region-e2e', ['--leader-elect=false']);
  await operator.ready();
});

after(async () => {
  await operator?.stop();
});

describe('a Region', () => {
  it('reports Kafka, Redis and Postgres reachable, with their latency, and is Ready', async () => {
    await eventually(async () => {
      const r = await getRegion();
      assert.equal(r.status?.phase, 'Ready');
      for (const name of ['Kafka', 'Redis', 'Postgres']) {
        assert.equal(reachable(r, name), true, name);
        assert.ok((r.status?.backends?.find((b) => b.name === name)?.latencyMs ?? -1) >= 0);
      }
    }, 30_000);
  });

  it('shows a stopped Redis as unreachable within a probe period or two, and recovers without a restart', async () => {
    await stopComponent('redis');
    try {
      await eventually(async () => {
        const r = await getRegion();
        assert.equal(reachable(r, 'Redis'), false);
        assert.equal(reachable(r, 'Kafka'), true);
        assert.equal(r.status?.phase, 'Degraded');
        assert.match(r.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '', /Redis: /);
      }, 20_000);
    } finally {
      await startComponent('redis');
    }
    await eventually(async () => assert.equal((await getRegion()).status?.phase, 'Ready'), 30_000);
  });
});
