/**
 * The chart with helm itself (built on demand into ~/.cache/weir): it lints clean, renders
 * with the defaults and with every optional part on, renders the monitoring objects from
 * files/ unchanged, and refuses bad values — by values.schema.json or, for relations between
 * two values, by templates/validate.yaml — with a message naming the field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { ensureBuilt } from '../../hack/local-env/toolchain.ts';
import { pipelineLabels } from '../../lib/platform/pipeline-names.ts';
import { EVERYTHING, helm, render, type Manifest } from './testing/helm.ts';

const chart = import.meta.dirname;

interface Schema {
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: unknown;
}

function find(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `no ${kind} ${name}`);
  return found;
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('the chart', () => {
  before(async () => {
    await ensureBuilt(['helm']);
  });

  it('lints clean with the defaults and with everything enabled', async () => {
    for (const args of [[], EVERYTHING]) {
      const { code, output } = await helm(['lint', '--strict', chart, ...args]);
      assert.equal(code, 0, output);
      assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('describes every value it has', () => {
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as Schema;
    const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const undescribed: string[] = [];
    const walk = (node: Schema, path: string) => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        if (!child.description) undescribed.push(`${path}${key}`);
        walk(child, `${path}${key}.`);
      }
    };
    walk(schema, '');
    assert.deepEqual(undescribed, []);
    // Every value in values.yaml is in the schema: lint with the defaults checks the rest,
    // since no object of the schema allows properties it does not name.
    const missing = (v: Record<string, unknown>, s: Schema, path: string): string[] =>
      Object.entries(v).flatMap(([key, child]) => {
        const sub = s.properties?.[key];
        if (!sub) return s.additionalProperties === false || !s.additionalProperties ? [`${path}${key}`] : [];
        return child && typeof child === 'object' && !Array.isArray(child) && sub.properties
          ? missing(child as Record<string, unknown>, sub, `${path}${key}.`)
          : [];
      });
    assert.deepEqual(missing(values, schema, ''), []);
  });

  it('renders no monitoring objects by default', async () => {
    const objects = await render();
    assert.deepEqual(
      objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/')).map((o) => o.kind),
      [],
    );
    assert.equal(
      objects.some((o) => o.metadata.labels?.grafana_dashboard),
      false,
    );
    assert.ok(objects.some((o) => o.kind === 'Deployment' && o.metadata.name === 'weir-gateway'));
  });

  describe('with everything enabled', () => {
    let objects: Manifest[];
    before(async () => {
      objects = await render([...EVERYTHING, '--set', 'monitoring.serviceMonitor.labels.release=prometheus']);
    });

    it('scrapes the operator’s and the gateway’s metrics Services on their metrics port', () => {
      for (const [monitor, service] of [
        ['weir-operator', 'weir-operator-metrics'],
        ['weir-gateway', 'weir-gateway'],
      ] as const) {
        const sm = find(objects, 'ServiceMonitor', monitor);
        const svc = find(objects, 'Service', service);
        const spec = sm.spec as {
          selector: { matchLabels: Record<string, string> };
          namespaceSelector: { matchNames: string[] };
          endpoints: { port: string; interval: string }[];
        };
        assert.ok(matches(spec.selector.matchLabels, svc.metadata.labels), `${monitor} does not select ${service}`);
        assert.deepEqual(spec.namespaceSelector.matchNames, ['weir-system']);
        const ports = (svc.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
        assert.ok(ports.includes(spec.endpoints[0]!.port), `${service} has no port ${spec.endpoints[0]!.port}`);
        assert.equal(spec.endpoints[0]!.interval, '30s');
        assert.equal(sm.metadata.labels?.release, 'prometheus');
      }
    });

    it('scrapes the processors the operator creates, in every namespace', () => {
      const spec = find(objects, 'ServiceMonitor', 'weir-processors').spec as {
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { any: boolean };
        endpoints: { port: string }[];
      };
      assert.ok(matches(spec.selector.matchLabels, pipelineLabels('clicks')));
      assert.equal(spec.namespaceSelector.any, true);
      assert.equal(spec.endpoints[0]!.port, 'metrics');
    });

    it('renders files/alerts.yaml unchanged as the PrometheusRule’s spec', () => {
      const rule = find(objects, 'PrometheusRule', 'weir');
      assert.deepEqual(rule.spec, parse(readFileSync(join(chart, 'files', 'alerts.yaml'), 'utf8')));
    });

    it('renders files/dashboard.json unchanged in a ConfigMap Grafana’s sidecar loads', () => {
      const cm = find(objects, 'ConfigMap', 'weir-dashboard');
      assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
      assert.equal(cm.metadata.namespace, 'weir-system');
      assert.deepEqual(
        JSON.parse(cm.data!['weir.json']!),
        JSON.parse(readFileSync(join(chart, 'files', 'dashboard.json'), 'utf8')),
      );
    });
  });

  it('puts the dashboard in the namespace asked for', async () => {
    const objects = await render([...EVERYTHING, '--set', 'monitoring.dashboard.namespace=grafana']);
    assert.equal(find(objects, 'ConfigMap', 'weir-dashboard').metadata.namespace, 'grafana');
  });

  it('scrapes no gateway when there is none, and no processors when told not to', async () => {
    const objects = await render([
      ...EVERYTHING,
      '--set',
      'gateway.enabled=false,monitoring.serviceMonitor.processors=false',
    ]);
    assert.deepEqual(
      objects.filter((o) => o.kind === 'ServiceMonitor').map((o) => o.metadata.name),
      ['weir-operator'],
    );
  });

  it('accepts every documented choice', async () => {
    const objects = await render([
      '--set',
      'gateway.kafka.client=kafkajs,gateway.quotaStoreFailure=FailClosed,gateway.service.type=NodePort',
      '--set',
      'gateway.redis.url=rediss://redis.weir.svc:6380,gateway.redis.passwordSecret.name=redis-gateway',
      '--set',
      'gateway.kafka.bootstrapServers=kafka-0.kafka:9092\\,kafka-1.kafka:9092,resources.requests.cpu=1',
      '--set',
      'logLevel=debug,image.tag=1.2.3,image.pullPolicy=Always',
      '--set',
      'gateway.kafka.sasl.credentialsSecret=kafka-gateway,gateway.kafka.sasl.mechanism=SCRAM-SHA-256,gateway.kafka.tls=true',
    ]);
    type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
    const gateway = find(objects, 'Deployment', 'weir-gateway').spec as {
      template: { spec: { containers: { args: string[]; env: Env[] }[] } };
    };
    const { args, env } = gateway.template.spec.containers[0]!;
    assert.ok(args.includes('--kafka-client=kafkajs'));
    assert.ok(args.includes('--quota-store-failure=FailClosed'));
    // The gateway's Kafka user comes from its Secret, never from a value or a flag.
    const byName = new Map(env.map((e) => [e.name, e]));
    assert.deepEqual(byName.get('WEIR_KAFKA_USERNAME')?.valueFrom?.secretKeyRef, {
      name: 'kafka-gateway',
      key: 'username',
    });
    assert.deepEqual(byName.get('WEIR_KAFKA_PASSWORD')?.valueFrom?.secretKeyRef, {
      name: 'kafka-gateway',
      key: 'password',
    });
    assert.equal(byName.get('WEIR_KAFKA_SASL_MECHANISM')?.value, 'SCRAM-SHA-256');
    assert.equal(byName.get('WEIR_KAFKA_TLS')?.value, 'true');
  });

  const bySchema: [string, string[], RegExp][] = [
    [
      'a Kafka client other than platformatic or kafkajs',
      ['--set', 'gateway.kafka.client=rdkafka'],
      /\/gateway\/kafka\/client': value must be one of 'platformatic', 'kafkajs'/,
    ],
    [
      'a quota store failure mode other than FailOpen or FailClosed',
      ['--set', 'gateway.quotaStoreFailure=Open'],
      /\/gateway\/quotaStoreFailure': value must be one of 'FailOpen', 'FailClosed'/,
    ],
    ['no operator replica', ['--set', 'replicas=0'], /\/replicas': minimum: got 0, want 1/],
    ['a concurrency below one', ['--set', 'concurrency=0'], /\/concurrency': minimum: got 0, want 1/],
    [
      'a fractional replica count',
      ['--set-json', 'gateway.replicas=1.5'],
      /\/gateway\/replicas': got number, want integer/,
    ],
    ['an unknown log level', ['--set', 'logLevel=verbose'], /\/logLevel': value must be one of/],
    ['an unknown pull policy', ['--set', 'image.pullPolicy=Sometimes'], /\/image\/pullPolicy': value must be one of/],
    ['an ExternalName gateway Service', ['--set', 'gateway.service.type=ExternalName'], /\/gateway\/service\/type'/],
    [
      'a port above 65535',
      ['--set', 'gateway.service.httpPort=70000'],
      /\/gateway\/service\/httpPort': maximum: got 70,000, want 65,535/,
    ],
    [
      'a CPU target above 100%',
      ['--set', 'gateway.autoscaling.targetCPUUtilizationPercentage=150'],
      /\/gateway\/autoscaling\/targetCPUUtilizationPercentage': maximum/,
    ],
    [
      'a Redis URL that is not redis:// or rediss://',
      ['--set', 'gateway.redis.url=http://redis:6379'],
      /\/gateway\/redis\/url': 'http:\/\/redis:6379' does not match pattern/,
    ],
    [
      'Kafka bootstrap servers without a port',
      ['--set', 'gateway.kafka.bootstrapServers=kafka'],
      /\/gateway\/kafka\/bootstrapServers': 'kafka' does not match pattern/,
    ],
    [
      'a memory request that is not a quantity',
      ['--set', 'gateway.resources.requests.memory=lots'],
      /\/gateway\/resources\/requests\/memory'/,
    ],
    [
      'a password Secret name that is not a Kubernetes name',
      ['--set', 'gateway.redis.passwordSecret.name=Redis_Password'],
      /\/gateway\/redis\/passwordSecret\/name'/,
    ],
    [
      'a scrape interval that is not a duration',
      ['--set-string', 'monitoring.serviceMonitor.interval=30'],
      /\/monitoring\/serviceMonitor\/interval': '30' does not match pattern/,
    ],
    [
      'a switch that is not a boolean',
      ['--set-string', 'monitoring.dashboard.enabled=yes'],
      /\/monitoring\/dashboard\/enabled': got string, want boolean/,
    ],
    [
      'a label value that is not a string',
      ['--set', 'monitoring.prometheusRule.labels.tier=1'],
      /\/monitoring\/prometheusRule\/labels\/tier': got number, want string/,
    ],
    ['a misspelled value', ['--set', 'gateway.replica=3'], /\/gateway': additional properties 'replica' not allowed/],
  ];
  const byTemplate: [string, string[], RegExp][] = [
    [
      'a renew deadline as long as the lease',
      ['--set', 'leaderElection.renewDeadlineSeconds=15'],
      /leaderElection\.renewDeadlineSeconds \(15\) must be less than leaderElection\.leaseDurationSeconds \(15\)/,
    ],
    [
      'a retry period as long as the renew deadline',
      ['--set', 'leaderElection.retryPeriodSeconds=10'],
      /leaderElection\.retryPeriodSeconds \(10\) must be less than leaderElection\.renewDeadlineSeconds \(10\)/,
    ],
    [
      'a drain longer than the grace period',
      ['--set', 'gateway.drainSeconds=40'],
      /gateway\.drainSeconds \(40\) must be less than gateway\.terminationGracePeriodSeconds \(35\)/,
    ],
    [
      'more minimum than maximum gateways',
      ['--set', 'gateway.autoscaling.minReplicas=20'],
      /gateway\.autoscaling\.minReplicas \(20\) must not exceed gateway\.autoscaling\.maxReplicas \(12\)/,
    ],
  ];
  describe('refuses, naming the field, at lint and at install', () => {
    for (const [name, args, message] of bySchema) {
      it(name, async () => {
        const lint = await helm(['lint', chart, ...args]);
        assert.notEqual(lint.code, 0, lint.output);
        assert.match(lint.output, message);
        // template validates values as install and upgrade do, without a cluster.
        const install = await helm(['template', 'weir', chart, '--namespace', 'weir-system', ...args]);
        assert.notEqual(install.code, 0, install.output);
        assert.match(install.output, message);
      });
    }
  });
  // helm lint reports a template's fail() as [INFO] and passes; install and upgrade refuse.
  describe('refuses at install, and names at lint', () => {
    for (const [name, args, message] of byTemplate) {
      it(name, async () => {
        const install = await helm(['template', 'weir', chart, '--namespace', 'weir-system', ...args]);
        assert.notEqual(install.code, 0, install.output);
        assert.match(install.output, message);
        const lint = await helm(['lint', chart, ...args]);
        assert.match(lint.output, message);
      });
    }
  });
});
