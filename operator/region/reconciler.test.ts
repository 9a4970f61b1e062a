import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { RegionStatus } from '../../crds/region.ts';
import { FakeClock } from '../../lib/clock/clock.ts';
import { EventRecorder } from '../../lib/kube/event-recorder.ts';
import { FakeKubeClient } from '../../lib/kube/testing/fake-kube-client.ts';
import { silentLogger } from '../../lib/observability/logger.ts';
import { region as regionFixture, T0 } from '../tenant/testing/tenant-fixture.ts';
import type { RegionObject } from '../tenant/region-backends.ts';
import { RegionReconciler } from './reconciler.ts';
import { PROBE_TIMEOUT_MS, withTimeout, type BackendProbe, type RegionProber } from './region-probes.ts';

type Stored = KubernetesObject & RegionObject & { status?: RegionStatus };

function fixture(regions: RegionObject[]) {
  const clock = new FakeClock({ now: T0 });
  const kube = new FakeKubeClient({ now: () => clock.now() });
  for (const r of regions)
    kube.seed({ apiVersion: 'weir.dev/v1alpha1', kind: 'Region', ...r, metadata: { ...r.metadata, generation: 1 } });
  const down = new Set<string>();
  const prober: RegionProber = {
    probe: async () =>
      ['Kafka', 'Redis', 'Postgres'].map((name) =>
        down.has(name)
          ? ({
              name,
              reachable: false,
              lastProbeTime: '2030-01-01T00:00:00Z',
              message: 'connection refused',
            } as BackendProbe)
          : ({ name, reachable: true, latencyMs: 1.5, lastProbeTime: '2030-01-01T00:00:00Z' } as BackendProbe),
      ),
  };
  const reconciler = new RegionReconciler({
    client: kube.client,
    regions: { get: (key) => kube.find<Stored>('Region', undefined, key), list: () => kube.all<Stored>('Region') },
    prober,
    events: new EventRecorder({
      client: kube.client,
      component: 'weir-test',
      instance: 't',
      clock,
      log: silentLogger(),
    }),
    clock,
    probePeriodMs: 30_000,
  });
  const reconcile = (name: string) => reconciler.reconcile({ key: name, name });
  const status = (name: string) => kube.find<Stored>('Region', undefined, name)!.status!;
  const condition = (name: string, type: string) => status(name).conditions?.find((c) => c.type === type);
  return { kube, clock, down, reconcile, status, condition };
}

describe('the Region reconciler', () => {
  it('reports every backend reachable, with its latency, and probes again after one period', async () => {
    const f = fixture([regionFixture('local')]);
    const result = await f.reconcile('local');
    assert.equal(result.requeueAfterMs, 30_000);
    assert.equal(f.status('local').phase, 'Ready');
    assert.deepEqual(
      f.status('local').backends!.map((b) => [b.name, b.reachable, b.latencyMs]),
      [
        ['Kafka', true, 1.5],
        ['Redis', true, 1.5],
        ['Postgres', true, 1.5],
      ],
    );
    assert.equal(f.condition('local', 'Ready')?.status, 'True');
  });

  it('names the unreachable backend, is Degraded, and recovers when it answers again', async () => {
    const f = fixture([regionFixture('local')]);
    await f.reconcile('local');
    f.down.add('Redis');
    await f.reconcile('local');
    assert.equal(f.status('local').phase, 'Degraded');
    assert.match(f.condition('local', 'Ready')!.message!, /Redis: connection refused/);
    assert.equal(f.status('local').backends!.find((b) => b.name === 'Redis')?.reachable, false);
    f.down.clear();
    await f.reconcile('local');
    assert.equal(f.status('local').phase, 'Ready');
  });

  it('tells each of two default Regions that it shares the mark', async () => {
    const f = fixture([regionFixture('east'), regionFixture('west'), regionFixture('north', false)]);
    for (const name of ['east', 'west', 'north']) await f.reconcile(name);
    for (const name of ['east', 'west']) {
      assert.equal(f.condition(name, 'DefaultUnique')?.reason, 'MultipleDefaults');
      assert.match(f.condition(name, 'Ready')!.message!, /Regions east and west are all marked default/);
    }
    assert.equal(f.condition('north', 'DefaultUnique'), undefined, 'a Region that is not default is not concerned');
    assert.equal(f.status('north').phase, 'Ready');
  });
});

describe('a probe', () => {
  it('fails once its timeout passed on the clock, so one backend cannot hold the others', async () => {
    const clock = new FakeClock();
    const hung = withTimeout(new Promise(() => {}), PROBE_TIMEOUT_MS, clock, 'Kafka');
    const settled = hung.then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await clock.advance(PROBE_TIMEOUT_MS);
    assert.equal(await settled, `Kafka did not answer within ${PROBE_TIMEOUT_MS} ms`);
  });
});
