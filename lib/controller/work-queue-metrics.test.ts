import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry, register as globalRegistry } from 'prom-client';
import { FakeClock } from '../clock/clock.ts';
import { WorkQueue } from './work-queue.ts';
import { createWorkQueueMetrics } from './work-queue-metrics.ts';

/** The sample lines of one metric family, e.g. `workqueue_depth{name="x",controller="x"} 1`. */
async function samples(registry: Registry, prefix: string): Promise<string[]> {
  const text = await registry.metrics();
  return text.split('\n').filter((line) => line.startsWith(prefix) && !line.startsWith('#'));
}

const LABELS = 'name="pipelines",controller="pipelines"';

function setUp() {
  const registry = new Registry();
  const clock = new FakeClock({ now: 1_700_000_000_000 });
  const queue = new WorkQueue({ name: 'pipelines', clock, metrics: createWorkQueueMetrics(registry) });
  return { registry, clock, queue };
}

describe('createWorkQueueMetrics', () => {
  it("reports adds, depth and retries under controller-runtime's names and labels", async () => {
    const { registry, queue } = setUp();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.addAfter('c', 1_000);
    const key = (await queue.get())!;
    assert.deepEqual(await samples(registry, 'workqueue_adds_total'), [`workqueue_adds_total{${LABELS}} 2`]);
    assert.deepEqual(await samples(registry, 'workqueue_depth'), [`workqueue_depth{${LABELS}} 1`]);
    assert.deepEqual(await samples(registry, 'workqueue_retries_total'), [`workqueue_retries_total{${LABELS}} 1`]);
    queue.done(key);
  });

  it('observes how long a key waited and how long it was worked on, in seconds', async () => {
    const { registry, clock, queue } = setUp();
    queue.add('a');
    await clock.advance(2_000);
    const key = (await queue.get())!;
    await clock.advance(30);
    queue.done(key);
    const waited = await samples(registry, 'workqueue_queue_duration_seconds');
    assert.ok(waited.includes(`workqueue_queue_duration_seconds_bucket{le="1",${LABELS}} 0`), waited.join('\n'));
    assert.ok(waited.includes(`workqueue_queue_duration_seconds_bucket{le="10",${LABELS}} 1`), waited.join('\n'));
    assert.ok(waited.includes(`workqueue_queue_duration_seconds_sum{${LABELS}} 2`));
    assert.ok(waited.includes(`workqueue_queue_duration_seconds_count{${LABELS}} 1`));
    const worked = await samples(registry, 'workqueue_work_duration_seconds');
    assert.ok(worked.includes(`workqueue_work_duration_seconds_bucket{le="0.01",${LABELS}} 0`), worked.join('\n'));
    assert.ok(worked.includes(`workqueue_work_duration_seconds_bucket{le="0.1",${LABELS}} 1`), worked.join('\n'));
    assert.ok(worked.includes(`workqueue_work_duration_seconds_sum{${LABELS}} 0.03`));
  });

  it("uses client-go's twelve buckets from 10ns to 1000s", async () => {
    const { registry } = setUp();
    const buckets = (await samples(registry, 'workqueue_work_duration_seconds_bucket')).map(
      (line) => /le="([^"]+)"/.exec(line)?.[1],
    );
    assert.deepEqual(buckets, [
      '1e-8',
      '1e-7',
      '0.000001',
      '0.00001',
      '0.0001',
      '0.001',
      '0.01',
      '0.1',
      '1',
      '10',
      '100',
      '1000',
      '+Inf',
    ]);
  });

  it('reports work in progress at scrape time, and zero once it is done', async () => {
    const { registry, clock, queue } = setUp();
    queue.add('a');
    const a = (await queue.get())!;
    await clock.advance(4_000);
    queue.add('b');
    const b = (await queue.get())!;
    await clock.advance(1_000);
    assert.deepEqual(await samples(registry, 'workqueue_unfinished_work_seconds'), [
      `workqueue_unfinished_work_seconds{${LABELS}} 6`,
    ]);
    assert.deepEqual(await samples(registry, 'workqueue_longest_running_processor_seconds'), [
      `workqueue_longest_running_processor_seconds{${LABELS}} 5`,
    ]);
    queue.done(a);
    queue.done(b);
    assert.deepEqual(await samples(registry, 'workqueue_unfinished_work_seconds'), [
      `workqueue_unfinished_work_seconds{${LABELS}} 0`,
    ]);
    assert.deepEqual(await samples(registry, 'workqueue_longest_running_processor_seconds'), [
      `workqueue_longest_running_processor_seconds{${LABELS}} 0`,
    ]);
  });

  it('keeps the series of each queue apart', async () => {
    const registry = new Registry();
    const metrics = createWorkQueueMetrics(registry);
    const clock = new FakeClock();
    const tenants = new WorkQueue({ name: 'tenants', clock, metrics });
    const regions = new WorkQueue({ name: 'regions', clock, metrics });
    tenants.add('acme');
    tenants.add('globex');
    regions.add('eu');
    assert.deepEqual((await samples(registry, 'workqueue_depth')).sort(), [
      'workqueue_depth{name="regions",controller="regions"} 1',
      'workqueue_depth{name="tenants",controller="tenants"} 2',
    ]);
  });

  it('leaves the global default registry alone', async () => {
    setUp().queue.add('a');
    assert.doesNotMatch(await globalRegistry.metrics(), /workqueue_/);
  });
});
