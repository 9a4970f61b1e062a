/**
 * Pipelines with engine Flink against a real API server, the operator, Kafka and the local
 * Flink session cluster: the job is submitted and its windows reach the output topic (read
 * with a plain read_committed consumer); a measure change upgrades through a savepoint and
 * keeps the open window's state; a change the savepoint cannot be restored into is refused;
 * a killed TaskManager loses and doubles nothing; savepoints on demand, Paused and Running,
 * Flink unreachable, and deletion cancelling the job.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Kafka } from 'kafkajs';
import { hasLocalEnv, startComponent, stopComponent } from '../hack/local-env/control-client.ts';
import { JobManagerClient } from '../lib/flink/job-manager-client.ts';
import { kafkaClient, produce, readUntil, type Record } from '../operator/flink/testing/kafka-io.ts';
import { applyWeirObject, deleteWeirObject, type Clients } from './cluster.ts';
import { eventually } from './eventually.ts';
import type { OperatorProcess } from './operator-process.ts';
import { env, readyTenant, REGION, setUpPlatform, startOperator } from './platform.ts';

const NS = 'tenant-flinkers';
const NAME = 'spend';
const INPUT = `weir.${NS}.${NAME}.input`;
const OUTPUT = `weir.${NS}.${NAME}.output`;
const DLQ = `weir.${NS}.${NAME}.dlq`;

let clients: Clients;
let operator: OperatorProcess;
let kafka: Kafka;
let jobManager: JobManagerClient;

interface PipelineView {
  metadata: { generation: number; annotations?: { [k: string]: string } };
  status?: {
    phase?: string;
    flink?: { jobId?: string; lastSavepoint?: string; jobState?: string; savepointRequest?: string };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const measures = [
  { name: 'count', type: 'Count' },
  { name: 'total', type: 'Sum', field: '/amount' },
];
/** More measures of the same field: the window state stays what it was. */
const moreMeasures = [
  ...measures,
  { name: 'high', type: 'Max', field: '/amount' },
  { name: 'mean', type: 'Avg', field: '/amount' },
];

function pipeline(ms: unknown[] = measures, phase = 'Running') {
  return {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Pipeline',
    metadata: { name: NAME, namespace: NS },
    spec: {
      engine: 'Flink',
      source: { partitions: 1 },
      aggregate: [
        {
          name: 'per_user',
          window: { type: 'Tumbling', size: '10s' },
          eventTime: { field: '/ts', maxOutOfOrderness: '0s' },
          groupBy: ['/user'],
          measures: ms,
        },
      ],
      lifecycle: { desiredPhase: phase, topicDeletionPolicy: 'Delete' },
    },
  };
}

async function get(): Promise<PipelineView> {
  return (await clients.custom.getNamespacedCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'pipelines',
    namespace: NS,
    name: NAME,
  })) as PipelineView;
}

const condition = (p: PipelineView, type: string) => p.status?.conditions?.find((c) => c.type === type);

/** Waits until FlinkJobReady has the reason (and, by default, is True), and returns the pipeline. */
async function jobCondition(reason: string, timeoutMs = 90_000): Promise<PipelineView> {
  return eventually(async () => {
    const p = await get();
    assert.equal(condition(p, 'FlinkJobReady')?.reason, reason, JSON.stringify(p.status));
    return p;
  }, timeoutMs);
}

async function annotate(annotations: { [k: string]: string | null }): Promise<void> {
  await clients.custom.patchNamespacedCustomObject(
    {
      group: 'weir.dev',
      version: 'v1alpha1',
      plural: 'pipelines',
      namespace: NS,
      name: NAME,
      body: { metadata: { annotations } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function setFlinkUrl(jobManagerUrl: string): Promise<void> {
  await clients.custom.patchClusterCustomObject(
    {
      group: 'weir.dev',
      version: 'v1alpha1',
      plural: 'regions',
      name: REGION,
      body: {
        apiVersion: 'weir.dev/v1alpha1',
        kind: 'Region',
        metadata: { name: REGION },
        spec: {
          flink: {
            jobManagerUrl,
            sqlGatewayUrl: env('WEIR_FLINK_SQL_GATEWAY_URL'),
            savepointDirectory: env('WEIR_FLINK_SAVEPOINT_DIR'),
          },
        },
      },
      fieldManager: 'weir-e2e-flink',
      force: true,
    },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
}

interface Window {
  start: string;
  user: string;
  measures: { [name: string]: unknown };
}

const windows = (records: Record[]): Window[] =>
  records.map((r) => {
    const v = JSON.parse(r.value) as { windowStart: string; group: { '/user': string }; measures: Window['measures'] };
    return { start: v.windowStart, user: v.group['/user'], measures: v.measures };
  });
const at = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
const ofWindow = (ws: Window[], s: number) => ws.filter((w) => w.start === at(s));

before(async () => {
  assert.ok(hasLocalEnv(), 'the Flink e2e tests need the local environment with Flink');
  let operatorKube: string;
  ({ clients, operatorKube } = await setUpPlatform());
  await setFlinkUrl(env('WEIR_FLINK_JOBMANAGER_URL'));
  kafka = kafkaClient();
  jobManager = new JobManagerClient({ url: env('WEIR_FLINK_JOBMANAGER_URL') });
  operator = await startOperator(operatorKube, 'flink', ['--leader-elect=false']);
  await readyTenant(clients, 'flinkers', { pipelines: 2, partitions: 10 });
});

after(async () => {
  await operator?.kill();
});

describe('a pipeline with engine Flink', () => {
  it('runs as a Flink job whose windows reach the output topic, too-late events the dead-letter topic', async () => {
    await eventually(() => applyWeirObject(clients.custom, pipeline() as never), 30_000);
    const p = await jobCondition('JobRunning');
    assert.equal((await jobManager.job(p.status!.flink!.jobId!)).state, 'RUNNING');
    await eventually(async () => assert.equal((await get()).status?.phase, 'Running'), 30_000);
    await produce(kafka, INPUT, [
      { user: 'a', ts: 1000, amount: 2 },
      { user: 'b', ts: 2000, amount: 3 },
      { user: 'a', ts: 3000, amount: 4 },
      { user: 'a', ts: 12000, amount: 1 }, // watermark 12 s: [0, 10 s) fires
      { user: 'b', ts: 5000, amount: 9 }, // too late
    ]);
    const ws = windows(await readUntil(kafka, OUTPUT, (r) => r.length >= 2));
    assert.deepEqual(
      ofWindow(ws, 0).sort((x, y) => x.user.localeCompare(y.user)),
      [
        { start: at(0), user: 'a', measures: { count: 2, total: 6 } },
        { start: at(0), user: 'b', measures: { count: 1, total: 3 } },
      ],
    );
    const dead = await readUntil(kafka, DLQ, (r) => r.length >= 1);
    assert.deepEqual(
      dead.map((r) => [JSON.parse(r.value), r.headers['weir-reason']]),
      [[{ user: 'b', ts: 5000, amount: 9 }, 'too-late']],
    );
    // Four of the five are counted so far (one in a window still open), one is dead-lettered.
  });

  it('upgrades through a savepoint on a measure change and keeps the open window', async () => {
    await produce(kafka, INPUT, [{ user: 'a', ts: 21000, amount: 5 }]); // [20 s, 30 s) opens
    const before = await get();
    // The running job has read all six events and checkpointed that (Flink commits the source's
    // offsets when a checkpoint completes), so the open window's state holds the last one.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await eventually(async () => {
        const [offsets] = await admin.fetchOffsets({ groupId: `weir.${NS}.${NAME}.flink.per_user`, topics: [INPUT] });
        assert.equal(offsets?.partitions[0]?.offset, '6', JSON.stringify(offsets));
      }, 30_000);
    } finally {
      await admin.disconnect();
    }
    await applyWeirObject(clients.custom, pipeline(moreMeasures) as never);
    const upgraded = await eventually(async () => {
      const p = await jobCondition('JobRunning');
      assert.notEqual(p.status?.flink?.jobId, before.status?.flink?.jobId);
      return p;
    }, 120_000);
    const savepoint = upgraded.status!.flink!.lastSavepoint!;
    assert.ok(savepoint, 'the upgrade recorded its savepoint');
    assert.equal((await jobManager.job(before.status!.flink!.jobId!)).state, 'FINISHED');
    const restored = await eventually(async () => {
      const { restoredFrom } = await jobManager.checkpoints(upgraded.status!.flink!.jobId!);
      assert.ok(restoredFrom);
      return restoredFrom;
    });
    assert.equal(restored.replace(/\/$/, ''), savepoint.replace(/\/$/, ''));
    await produce(kafka, INPUT, [
      { user: 'a', ts: 23000, amount: 7 },
      { user: 'z', ts: 40000, amount: 1 }, // [20 s, 30 s) fires
    ]);
    const ws = windows(await readUntil(kafka, OUTPUT, (r) => windows(r).some((w) => w.start === at(20))));
    // The event before the upgrade is in the window's state: counted with the one after it.
    assert.deepEqual(ofWindow(ws, 20), [
      { start: at(20), user: 'a', measures: { count: 2, total: 12, high: 7, mean: 6 } },
    ]);
  });

  it('refuses a change the savepoint cannot be restored into and keeps the job running', async () => {
    const running = (await get()).status!.flink!.jobId!;
    await applyWeirObject(
      clients.custom,
      pipeline([...measures, { name: 'qty', type: 'Sum', field: '/quantity' }]) as never,
    );
    const p = await jobCondition('UpgradeRefused', 60_000);
    assert.match(condition(p, 'FlinkJobReady')?.message ?? '', /cannot restore/);
    assert.equal((await jobManager.job(running)).state, 'RUNNING');
    assert.equal(p.status?.flink?.jobId, running);
    // Back to what runs: nothing to upgrade.
    await applyWeirObject(clients.custom, pipeline(moreMeasures) as never);
    assert.equal((await jobCondition('JobRunning')).status?.flink?.jobId, running);
  });

  it('recovers from a killed TaskManager with no result lost or doubled', async () => {
    await produce(kafka, INPUT, [
      { user: 'k', ts: 50000, amount: 1 },
      { user: 'k', ts: 51000, amount: 1 },
    ]);
    await stopComponent('flink-taskmanager');
    try {
      await jobCondition('JobRestarting', 60_000);
      await produce(kafka, INPUT, [
        { user: 'k', ts: 52000, amount: 1 },
        { user: 'k', ts: 61000, amount: 1 }, // [50 s, 60 s) fires once the job is back
      ]);
    } finally {
      await startComponent('flink-taskmanager');
    }
    await jobCondition('JobRunning', 120_000);
    await produce(kafka, INPUT, [{ user: 'k', ts: 75000, amount: 1 }]); // [60 s, 70 s) fires
    const ws = windows(await readUntil(kafka, OUTPUT, (r) => windows(r).some((w) => w.start === at(60)), 120_000));
    // Exactly one result per window, each event counted once, across the crash.
    assert.deepEqual(
      ofWindow(ws, 50).map((w) => w.measures.count),
      [3],
    );
    assert.deepEqual(
      ofWindow(ws, 60).map((w) => w.measures.count),
      [1],
    );
    const all = windows(await readUntil(kafka, OUTPUT, () => true));
    const keys = all.map((w) => `${w.start}/${w.user}`);
    assert.equal(new Set(keys).size, keys.length, `a window was written twice: ${keys.join(', ')}`);
  });

  it('takes a savepoint when the annotation asks for one', async () => {
    await annotate({ 'weir.dev/flink-savepoint': 'before-maintenance' });
    const p = await eventually(async () => {
      const current = await get();
      assert.equal(condition(current, 'FlinkSavepointReady')?.status, 'True', JSON.stringify(current.status));
      assert.equal(current.status?.flink?.savepointRequest, 'before-maintenance');
      return current;
    }, 60_000);
    assert.equal(condition(p, 'FlinkSavepointReady')?.message, p.status?.flink?.lastSavepoint);
    assert.equal(condition(p, 'FlinkJobReady')?.status, 'True');
  });

  it('suspends with a savepoint when Paused and resumes from it when Running', async () => {
    const running = (await get()).status!.flink!.jobId!;
    await applyWeirObject(clients.custom, pipeline(moreMeasures, 'Paused') as never);
    const paused = await jobCondition('Suspended');
    // The JobManager serves a job's details from a cache that may lag its jobs overview by seconds.
    await eventually(async () => assert.equal((await jobManager.job(running)).state, 'FINISHED'));
    await eventually(async () => assert.equal((await get()).status?.phase, 'Paused'), 30_000);
    // Events sent while paused wait in the input topic.
    await produce(kafka, INPUT, [{ user: 'p', ts: 81000, amount: 4 }]);
    await applyWeirObject(clients.custom, pipeline(moreMeasures) as never);
    const resumed = await eventually(async () => {
      const p = await jobCondition('JobRunning');
      assert.notEqual(p.status?.flink?.jobId, running);
      return p;
    }, 90_000);
    const { restoredFrom } = await eventually(async () => {
      const c = await jobManager.checkpoints(resumed.status!.flink!.jobId!);
      assert.ok(c.restoredFrom);
      return c;
    });
    assert.equal(restoredFrom!.replace(/\/$/, ''), paused.status!.flink!.lastSavepoint!.replace(/\/$/, ''));
    await produce(kafka, INPUT, [{ user: 'z', ts: 95000, amount: 1 }]);
    const ws = windows(await readUntil(kafka, OUTPUT, (r) => windows(r).some((w) => w.start === at(80))));
    assert.deepEqual(
      ofWindow(ws, 80).map((w) => [w.user, w.measures.count]),
      [['p', 1]],
    );
  });

  it('shows Flink unreachable and heals once it is back', async () => {
    await setFlinkUrl('http://127.0.0.1:1');
    try {
      await jobCondition('FlinkUnreachable', 60_000);
    } finally {
      await setFlinkUrl(env('WEIR_FLINK_JOBMANAGER_URL'));
    }
    await jobCondition('JobRunning', 90_000);
  });

  it('cancels the job when the pipeline is deleted', async () => {
    const running = (await get()).status!.flink!.jobId!;
    await deleteWeirObject(clients.custom, pipeline() as never);
    await eventually(() => assert.rejects(get(), (err: { code?: number }) => err.code === 404), 60_000);
    await eventually(async () => assert.equal((await jobManager.job(running)).state, 'CANCELED'));
  });
});
