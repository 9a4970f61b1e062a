/**
 * What the gateway e2e tests share: the platform with the operator, tenants whose tokens
 * come from test issuers, pipelines whose topics the operator made, gateways running with
 * the chart's RBAC, and a plain kafkajs consumer to count what reached a topic — never the
 * gateway's own code.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import kafkajs from 'kafkajs';
import { applyWeirObject, serviceAccountKubeconfig, type Clients } from './cluster.ts';
import { eventually } from './eventually.ts';
import { GatewayProcess } from './gateway-process.ts';
import type { OperatorProcess } from './operator-process.ts';
import { env, PLATFORM, REGION, setUpPlatform, startOperator } from './platform.ts';
import type { TokenIssuer } from './token-issuer.ts';

const { Kafka, logLevel } = kafkajs;

/** The platform for gateway tests. */
export interface GatewayPlatform {
  clients: Clients;
  operator: OperatorProcess;
  gatewayKube: string;
}

/** Installs the platform and starts the operator. */
export async function gatewayPlatform(identity: string): Promise<GatewayPlatform> {
  const { clients, operatorKube } = await setUpPlatform();
  const operator = await startOperator(operatorKube, identity, ['--leader-elect=false']);
  const gatewayKube = await serviceAccountKubeconfig(clients, PLATFORM, 'weir-gateway');
  return { clients, operator, gatewayKube };
}

/** Applies a Tenant that trusts `issuers` and waits until it is Ready. */
export async function tenantWithIssuers(
  clients: Clients,
  name: string,
  issuers: TokenIssuer[],
  quotas: Record<string, unknown> = {},
): Promise<void> {
  await applyWeirObject(clients.custom, {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name },
    spec: {
      owners: [{ kind: 'User', name: `${name}-owner` }],
      regions: [REGION],
      quotas: { pipelines: 5, partitions: 40, ...quotas },
      auth: { issuers: issuers.map((i) => i.issuerSpec()) },
    },
  } as never);
  await eventually(async () => {
    const t = (await clients.custom.getClusterCustomObject({
      group: 'weir.dev',
      version: 'v1alpha1',
      plural: 'tenants',
      name,
    })) as {
      status?: { phase?: string };
    };
    assert.equal(t.status?.phase, 'Ready');
  }, 60_000);
}

/** Applies a Pipeline and waits until the operator has made its topics; returns the input topic. */
export async function pipelineWithTopics(
  clients: Clients,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<string> {
  // The API server's quota admission may not have counted the new tenant's quota yet.
  await eventually(
    () =>
      applyWeirObject(clients.custom, {
        apiVersion: 'weir.dev/v1alpha1',
        kind: 'Pipeline',
        metadata: { name, namespace },
        spec: { scaling: { minReplicas: 1, maxReplicas: 1 }, lifecycle: { desiredPhase: 'Paused' }, ...spec },
      } as never),
    30_000,
  );
  return eventually(async () => {
    const p = (await clients.custom.getNamespacedCustomObject({
      group: 'weir.dev',
      version: 'v1alpha1',
      plural: 'pipelines',
      namespace,
      name,
    })) as {
      status?: { topics?: { role: string; name: string }[]; conditions?: { type: string; status: string }[] };
    };
    assert.equal(p.status?.conditions?.find((c) => c.type === 'TopicsReady')?.status, 'True', JSON.stringify(p.status));
    return p.status!.topics!.find((t) => t.role === 'Input')!.name;
  }, 60_000);
}

/** Starts a gateway with the chart's RBAC and waits until it is ready. */
export async function readyGateway(
  platform: GatewayPlatform,
  id: string,
  extraEnv: Record<string, string> = {},
): Promise<GatewayProcess> {
  const gateway = await GatewayProcess.start(id, {
    kubeconfig: platform.gatewayKube,
    env: {
      WEIR_KAFKA_BROKERS: env('WEIR_KAFKA_BROKERS'),
      WEIR_REDIS_URL: env('WEIR_REDIS_URL'),
      WEIR_HEARTBEAT_SECONDS: '2',
      WEIR_JWKS_COOLDOWN_SECONDS: '2',
      ...extraEnv,
    },
  });
  await gateway.ready(60_000);
  return gateway;
}

/** A record of a topic as a plain consumer reads it. */
export interface TopicRecord {
  partition: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Every record of a topic from the beginning, read by a plain kafkajs consumer: until
 * `until` holds of what was read (then a short quiet period for stragglers), or else until
 * `quietMs` pass without a new record.
 */
export async function readTopic(
  topic: string,
  options: { until?: (records: TopicRecord[]) => boolean; quietMs?: number; timeoutMs?: number } = {},
): Promise<TopicRecord[]> {
  const quietMs = options.until ? 300 : (options.quietMs ?? 3_000);
  const kafka = new Kafka({
    brokers: env('WEIR_KAFKA_BROKERS').split(','),
    clientId: 'weir-e2e-reader',
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: `weir-e2e-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 100 });
  const seen: TopicRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let last = Date.now();
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        last = Date.now();
        seen.push({
          partition,
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
      },
    });
    const started = Date.now();
    const timeoutMs = options.timeoutMs ?? 60_000;
    const done = () => (options.until ? options.until(seen) : true);
    while (Date.now() - started < timeoutMs && !(done() && Date.now() - last >= quietMs)) {
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** Whether records with every one of these event ids were read. */
export function hasEvents(ids: readonly string[]): (records: TopicRecord[]) => boolean {
  return (records) => ids.every((id) => records.some((r) => r.headers['weir-event-id'] === id));
}

/** POSTs events to a gateway. */
export async function post(
  gateway: GatewayProcess,
  pipeline: string,
  body: unknown,
  options: { token?: string; headers?: Record<string, string>; raw?: string | Buffer; contentType?: string } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/json',
    ...options.headers,
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(`${gateway.url}/v1/pipelines/${pipeline}/events`, {
    method: 'POST',
    headers,
    body: options.raw ?? JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Established TCP connections a process holds to `port` (from /proc: its socket fds matched with the kernel's table). */
export function tcpConnectionsTo(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]!);
    } catch {
      // The fd closed while being read.
    }
  }
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const remotePort = parseInt(fields[2]!.split(':')[1]!, 16);
      if (remotePort === port && fields[3] === '01' && inodes.has(fields[9]!)) count++;
    }
  }
  return count;
}

/** The value of one sample of a Prometheus text exposition, or 0 if absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (.+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[4]);
  }
  return 0;
}
