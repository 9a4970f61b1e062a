/**
 * The processor on the local environment's process node, the kubelet stand-in: a Running
 * Pipeline's processor Deployment gets a pod that really runs as a local process and
 * becomes ready, so the Pipeline becomes Ready; a deleted pod is replaced by one that runs;
 * a Kafka outage takes the processor out of service through its readiness probe, not a
 * restart, and its end brings it back; pausing stops the process; pods of other images are
 * refused with a reason (and without a ReplicaSet replacing them in a loop).
 *
 * Only where the process node runs the pods: on other clusters (kind) a kubelet runs them
 * in containers, and their pod IPs are not reachable from here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, type V1Pod } from '@kubernetes/client-node';
import { alive } from '../hack/local-env/managed-process.ts';
import { hasLocalEnv, startComponent, stopComponent } from '../hack/local-env/control-client.ts';
import { applyWeirObject, deleteWeirObject, ensureNamespace, type Clients } from './cluster.ts';
import { eventually } from './eventually.ts';
import type { OperatorProcess } from './operator-process.ts';
import { readyTenant, setUpPlatform, startOperator } from './platform.ts';

const NS = 'tenant-nodes';
const PIPELINE = 'clicks';
const processNode = process.env.WEIR_PROCESS_NODE;

interface PipelineView {
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

let clients: Clients;
let apps: AppsV1Api;
let operator: OperatorProcess | undefined;

function pipeline(lifecycle: Record<string, string> = {}) {
  return {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Pipeline',
    metadata: { name: PIPELINE, namespace: NS },
    spec: { source: { partitions: 1, retention: '1h' }, scaling: { minReplicas: 1, maxReplicas: 1 }, lifecycle },
  };
}

async function getPipeline(): Promise<PipelineView> {
  return (await clients.custom.getNamespacedCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'pipelines',
    namespace: NS,
    name: PIPELINE,
  })) as PipelineView;
}

function condition(p: PipelineView, type: string) {
  return p.status?.conditions?.find((c) => c.type === type);
}

async function processorPods(): Promise<V1Pod[]> {
  return (await clients.core.listNamespacedPod({ namespace: NS, labelSelector: `weir.dev/pipeline=${PIPELINE}` }))
    .items;
}

function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The one processor pod, once it runs and is ready (and, if given, is not `except`). */
async function readyProcessor(timeoutMs: number, except?: string): Promise<V1Pod> {
  return eventually(
    async () => {
      const pods = (await processorPods()).filter((p) => p.metadata?.uid !== except && !p.metadata?.deletionTimestamp);
      assert.equal(
        pods.length,
        1,
        `processor pods: ${pods.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(', ')}`,
      );
      const pod = pods[0]!;
      assert.equal(pod.status?.phase, 'Running', JSON.stringify(pod.status?.containerStatuses?.[0]?.state));
      assert.ok(
        podReady(pod),
        `pod ${pod.metadata?.name} is not ready: ${JSON.stringify(pod.status?.conditions?.find((c) => c.type === 'Ready'))}`,
      );
      return pod;
    },
    timeoutMs,
    500,
  );
}

/** The pid of the container's process, from its containerID `process://<pid>`. */
function pidOf(pod: V1Pod): number {
  const id = pod.status?.containerStatuses?.[0]?.containerID ?? '';
  assert.match(id, /^process:\/\/\d+$/);
  return Number(id.slice('process://'.length));
}

async function readyz(pod: V1Pod): Promise<number> {
  const res = await fetch(`http://${pod.status!.podIP}:9090/readyz`, { signal: AbortSignal.timeout(2_000) });
  return res.status;
}

async function workloadReady(status: 'True' | 'False', timeoutMs: number): Promise<PipelineView> {
  return eventually(
    async () => {
      const p = await getPipeline();
      assert.equal(condition(p, 'WorkloadReady')?.status, status, JSON.stringify(condition(p, 'WorkloadReady')));
      return p;
    },
    timeoutMs,
    500,
  );
}

// On kind a real kubelet runs the pods and these checks of local processes do not apply;
// inside the local environment they must run, so a missing process node fails them.
describe(
  'the process node',
  {
    skip:
      processNode || hasLocalEnv()
        ? false
        : 'checks the local process node; on a real cluster the kubelet runs the pods',
  },
  () => {
    before(async () => {
      assert.ok(hasLocalEnv(), 'the process node e2e tests need the local environment for Kafka');
      assert.ok(processNode, 'the local environment runs without its process node: start it with --with all');
      let operatorKube: string;
      ({ clients, operatorKube } = await setUpPlatform());
      apps = clients.kc.makeApiClient(AppsV1Api);
      operator = await startOperator(operatorKube, 'process-node', ['--leader-elect=false']);
      await readyTenant(clients, 'nodes', { pipelines: 2, partitions: 20 });
    });

    after(async () => {
      await operator?.kill();
    });

    it('refuses a pod of another image, saying so, instead of leaving it Pending', async () => {
      const namespace = 'process-node-e2e';
      await ensureNamespace(clients.core, namespace);
      await clients.core.createNamespacedPod({
        namespace,
        body: { metadata: { name: 'nginx' }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } },
      });
      const pod = await eventually(async () => {
        const p = await clients.core.readNamespacedPod({ namespace, name: 'nginx' });
        assert.equal(p.status?.phase, 'Failed');
        return p;
      }, 30_000);
      assert.equal(pod.spec?.nodeName, processNode);
      assert.equal(pod.status?.reason, 'UnsupportedImage');
      assert.match(pod.status?.message ?? '', /runs only Weir's image .*container nginx uses nginx:1\.27/);
      await clients.core.deleteNamespacedPod({ namespace, name: 'nginx' });
    });

    it('keeps a ReplicaSet pod of another image Pending with the reason, so the ReplicaSet does not replace it in a loop', async () => {
      const namespace = 'process-node-e2e';
      const labels = { app: 'nginx' };
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: 'nginx' },
          spec: {
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } },
          },
        },
      });
      const pods = () => clients.core.listNamespacedPod({ namespace, labelSelector: 'app=nginx' });
      await eventually(async () => {
        const waiting = (await pods()).items[0]?.status?.containerStatuses?.[0]?.state?.waiting;
        assert.equal(waiting?.reason, 'UnsupportedImage');
        assert.match(waiting?.message ?? '', /runs only Weir's image/);
      }, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const items = (await pods()).items;
      assert.deepEqual(
        items.map((p) => p.status?.phase),
        ['Pending'],
      );
      await apps.deleteNamespacedDeployment({ namespace, name: 'nginx' });
    });

    it('runs the processor of a Running pipeline as a process, and the Pipeline becomes Ready', async () => {
      // The API server's quota admission may not have seen the new tenant's quota counted yet.
      await eventually(() => applyWeirObject(clients.custom, pipeline() as never), 30_000);
      const p = await eventually(
        async () => {
          const current = await getPipeline();
          assert.equal(condition(current, 'WorkloadReady')?.status, 'True', JSON.stringify(current.status?.conditions));
          assert.equal(condition(current, 'Ready')?.status, 'True');
          assert.equal(current.status?.phase, 'Running');
          return current;
        },
        90_000,
        500,
      );
      assert.match(condition(p, 'WorkloadReady')?.message ?? '', /1 processor replicas available/);

      const pod = await readyProcessor(10_000);
      assert.equal(pod.spec?.nodeName, processNode);
      assert.match(pod.status?.podIP ?? '', /^127\.\d+\.\d+\.\d+$/);
      assert.notEqual(pod.status?.podIP, '127.0.0.1', 'the pod has an address of its own');
      // The process is real: the node's own process table has it, running the processor as the pod's user.
      const pid = pidOf(pod);
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /dataplane\/processor\/main\.ts/);
      assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+65532\b/m);
      assert.equal(await readyz(pod), 200);
      const metrics = await (await fetch(`http://${pod.status!.podIP}:9090/metrics`)).text();
      assert.match(metrics, /^weir_processor_ready 1$/m);
      assert.match(metrics, new RegExp(`weir_processor_info\\{pipeline="${NS}/${PIPELINE}"`));
      // Every line of its log names the pipeline.
      const log = join(
        process.env.WEIR_PROCESS_NODE_LOG_DIR!,
        `${NS}_${pod.metadata!.name}_${pod.metadata!.uid}`,
        'processor',
        '0.log',
      );
      const lines = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { pipeline?: string; msg?: string });
      assert.ok(
        lines.some((l) => l.msg?.startsWith('processor started')),
        `no start line in ${log}`,
      );
      for (const line of lines) assert.equal(line.pipeline, `${NS}/${PIPELINE}`, JSON.stringify(line));
    });

    it('replaces a deleted processor pod with a new one that runs, after stopping the old process', async () => {
      const old = await readyProcessor(10_000);
      const oldPid = pidOf(old);
      await clients.core.deleteNamespacedPod({ namespace: NS, name: old.metadata!.name! });
      const replacement = await readyProcessor(60_000, old.metadata!.uid);
      assert.notEqual(replacement.metadata?.name, old.metadata?.name);
      assert.equal(await readyz(replacement), 200);
      await eventually(async () => {
        await assert.rejects(
          clients.core.readNamespacedPod({ namespace: NS, name: old.metadata!.name! }),
          (err: { code?: number }) => err.code === 404,
        );
        assert.equal(alive(oldPid), false, `process ${oldPid} of the deleted pod still runs`);
      }, 30_000);
      await workloadReady('True', 30_000);
    });

    it('takes the processor out of service while Kafka is down, without restarting it, and back once Kafka returns', async () => {
      const before = await readyProcessor(10_000);
      await stopComponent('kafka');
      try {
        await eventually(
          async () => {
            const pod = (await processorPods()).find((p) => p.metadata?.uid === before.metadata?.uid);
            assert.ok(pod && !podReady(pod), 'the processor is still ready');
          },
          60_000,
          500,
        );
        assert.equal(await readyz(before), 503);
        await eventually(
          async () =>
            assert.ok(
              !(await apps.readNamespacedDeployment({ namespace: NS, name: `${PIPELINE}-processor` })).status
                ?.availableReplicas,
            ),
          30_000,
        );
        const p = await workloadReady('False', 30_000);
        assert.equal(condition(p, 'WorkloadReady')?.reason, 'ReplicasUnavailable');
      } finally {
        await startComponent('kafka');
      }
      const after = await readyProcessor(60_000);
      assert.equal(after.metadata?.uid, before.metadata?.uid, 'the pod was replaced');
      assert.equal(
        after.status?.containerStatuses?.[0]?.restartCount,
        0,
        'the processor was restarted: its liveness must not depend on Kafka',
      );
      await workloadReady('True', 30_000);
    });

    it('stops the processor process when the pipeline is paused', async () => {
      const running = await readyProcessor(10_000);
      const pid = pidOf(running);
      await applyWeirObject(clients.custom, pipeline({ desiredPhase: 'Paused' }) as never);
      await eventually(
        async () => {
          assert.deepEqual(
            (await processorPods()).map((p) => p.metadata?.name),
            [],
          );
          assert.equal(alive(pid), false, `process ${pid} still runs`);
          assert.equal((await getPipeline()).status?.phase, 'Paused');
        },
        60_000,
        500,
      );
      await assert.rejects(readyz(running));
      await deleteWeirObject(clients.custom, pipeline());
    });
  },
);
