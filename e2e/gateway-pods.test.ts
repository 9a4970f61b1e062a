/**
 * The chart's gateway as pods on the local environment's process node, exactly as a
 * cluster runs them: the Deployment rendered by helm (two replicas, the chart's RBAC, probes,
 * non-root), its pods running `node dataplane/gateway/main.ts` with the service account's
 * token from the projected volume, ready once synced and connected to Kafka, taking events
 * at their pod addresses, reporting the policies they apply, and replaced when deleted.
 *
 * Only where the process node runs the pods: on other clusters a kubelet runs them in
 * containers, and their pod IPs are not reachable from here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { hasLocalEnv } from '../hack/local-env/control-client.ts';
import { applyWeirObject, kubectl, root } from './cluster.ts';
import { eventually } from './eventually.ts';
import {
  gatewayPlatform,
  hasEvents,
  pipelineWithTopics,
  readTopic,
  tenantWithIssuers,
  type GatewayPlatform,
} from './gateway-fixture.ts';
import { env, PLATFORM } from './platform.ts';
import { TokenIssuer } from './token-issuer.ts';

const NS = 'tenant-gwp';
const processNode = process.env.WEIR_PROCESS_NODE;
const SELECTOR = 'app.kubernetes.io/name=weir-gateway';

let platform: GatewayPlatform;
let issuer: TokenIssuer;
let topic: string;

async function gatewayPods(): Promise<V1Pod[]> {
  return (await platform.clients.core.listNamespacedPod({ namespace: PLATFORM, labelSelector: SELECTOR })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
}

const ready = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** The chart's gateway objects, rendered for the local environment's Kafka and Redis. */
function renderedGateway(): object[] {
  const redis = new URL(env('WEIR_REDIS_URL'));
  const password = decodeURIComponent(redis.password);
  redis.password = '';
  redis.username = '';
  const out = spawnSync(
    'helm',
    [
      'template',
      'weir',
      join(root, 'charts', 'weir'),
      '--namespace',
      PLATFORM,
      '--set',
      'gateway.replicas=2',
      '--set',
      `gateway.kafka.bootstrapServers=${env('WEIR_KAFKA_BROKERS')}`,
      '--set',
      `gateway.redis.url=${redis.toString()}`,
      '--set',
      'gateway.redis.passwordSecret.name=weir-gateway-redis',
      '--set',
      'gateway.drainSeconds=4',
      '--show-only',
      'templates/gateway.yaml',
    ],
    { encoding: 'utf8' },
  );
  if (out.status !== 0) throw new Error(`helm template failed:\n${out.stderr}`);
  kubectl(['-n', PLATFORM, 'delete', 'secret', 'weir-gateway-redis', '--ignore-not-found']);
  const secret = kubectl([
    '-n',
    PLATFORM,
    'create',
    'secret',
    'generic',
    'weir-gateway-redis',
    `--from-literal=password=${password}`,
  ]);
  if (secret.status !== 0) throw new Error(secret.stderr);
  return parseAllDocuments(out.stdout)
    .map((d) => d.toJS() as object)
    .filter(Boolean);
}

describe(
  'the gateway as pods on the process node',
  {
    skip:
      processNode || hasLocalEnv()
        ? false
        : 'checks the local process node; on a real cluster the kubelet runs the pods',
  },
  () => {
    before(async () => {
      assert.ok(processNode, 'the local environment runs without its process node: start it with --with all');
      platform = await gatewayPlatform('gateway-pods-e2e');
      issuer = await TokenIssuer.start('https://pods.e2e.weir.dev/');
      await tenantWithIssuers(platform.clients, 'gwp', [issuer]);
      topic = await pipelineWithTopics(platform.clients, NS, 'metrics', { source: { partitions: 1 } });
      const applied = kubectl(
        ['apply', '--server-side', '--force-conflicts', '--field-manager=weir-e2e', '-f', '-'],
        renderedGateway()
          .map((o) => JSON.stringify(o))
          .join('\n'),
      );
      assert.equal(applied.status, 0, applied.stderr);
    });

    after(async () => {
      // Gone before the next test file starts, so that no stray gateway counts in its policies' appliedBy.
      kubectl(['-n', PLATFORM, 'delete', 'deployment', 'weir-gateway', '--ignore-not-found']);
      await eventually(async () => assert.equal((await gatewayPods()).length, 0), 60_000, 500);
      await platform?.operator.kill();
      await issuer?.close();
    });

    it("runs the chart's two replicas as non-root processes that become ready", async () => {
      const pods = await eventually(
        async () => {
          const current = await gatewayPods();
          assert.equal(current.length, 2, current.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(', '));
          for (const pod of current)
            assert.ok(
              ready(pod),
              `${pod.metadata?.name}: ${JSON.stringify(pod.status?.containerStatuses?.[0]?.state)}`,
            );
          return current;
        },
        120_000,
        1_000,
      );
      for (const pod of pods) {
        assert.equal(pod.spec?.nodeName, processNode);
        assert.equal(pod.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
        assert.equal(pod.spec?.securityContext?.runAsNonRoot, true);
      }
    });

    it('takes an event at a pod address and writes it to the topic', async () => {
      const [pod] = await gatewayPods();
      const res = await fetch(`http://${pod!.status!.podIP}:8080/v1/pipelines/${NS}/metrics/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await issuer.token('gwp')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ from: 'a pod' }),
      });
      const body = (await res.json()) as { ids: string[] };
      assert.equal(res.status, 202, JSON.stringify(body));
      assert.ok(hasEvents(body.ids)(await readTopic(topic, { until: hasEvents(body.ids) })));
    });

    it("counts both pods in a policy's appliedBy, through their Leases", async () => {
      await applyWeirObject(platform.clients.custom, {
        apiVersion: 'weir.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: { name: 'pods-policy', namespace: NS },
        spec: { rules: [{ name: 'all', key: { source: 'Global' }, rate: 1000 }] },
      } as never);
      await eventually(
        async () => {
          const p = (await platform.clients.custom.getNamespacedCustomObject({
            group: 'weir.dev',
            version: 'v1alpha1',
            plural: 'ratelimitpolicies',
            namespace: NS,
            name: 'pods-policy',
          })) as { status?: { appliedBy?: number } };
          assert.equal(p.status?.appliedBy, 2, JSON.stringify(p.status));
        },
        60_000,
        1_000,
      );
    });

    it('replaces a deleted pod with one that becomes ready, the old one drained and gone', async () => {
      const [victim] = await gatewayPods();
      await platform.clients.core.deleteNamespacedPod({ namespace: PLATFORM, name: victim!.metadata!.name! });
      await eventually(
        async () => {
          const current = await gatewayPods();
          const seen = current.map(
            (p) => `${p.metadata?.name} ${p.status?.phase}${p.metadata?.deletionTimestamp ? ' terminating' : ''}`,
          );
          assert.equal(current.length, 2, seen.join(', '));
          assert.ok(
            current.every((p) => p.metadata?.uid !== victim!.metadata?.uid && ready(p)),
            current.map((p) => p.metadata?.name).join(', '),
          );
        },
        120_000,
        1_000,
      );
    });
  },
);
