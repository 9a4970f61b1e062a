/**
 * The rendered chart against a real kube-apiserver: every object, with the defaults and with
 * every optional part on, passes the API server's own validation and admission in a
 * server-side dry run (with strict field validation, so a misspelled field fails too), and
 * helm install refuses bad values before anything reaches the cluster. The ServiceMonitors and
 * the PrometheusRule are not validated here: the local environment has no monitoring.coreos.com
 * CRDs, and a hand-written stand-in would only check itself; promtool checks the rules
 * (monitoring.test.ts). Run under `node hack/local-env/cli.ts run --with kube-api -- node --test <this file>`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { toolchain } from '../../hack/local-env/toolchain.ts';
import { EVERYTHING, chart, helm, render, type Manifest } from './testing/helm.ts';

const namespace = `weir-chart-${randomBytes(3).toString('hex')}`;
const MONITORING = 'monitoring.coreos.com/';

function kubectl(args: string[], input?: string): { code: number; output: string; stdout: string } {
  assert.ok(process.env.KUBECONFIG, 'KUBECONFIG is not set: run under hack/local-env/cli.ts run --with kube-api');
  const out = spawnSync(toolchain().kubectl, args, { input, encoding: 'utf8' });
  if (out.error) throw out.error;
  return { code: out.status ?? -1, output: out.stdout + out.stderr, stdout: out.stdout };
}

/** A server-side dry run of `objects`: what the API server would have made of them, nothing stored. */
function dryRun(objects: Manifest[]) {
  return kubectl(
    [
      'apply',
      '--server-side',
      '--dry-run=server',
      '--validate=strict',
      '--field-manager=weir-chart-test',
      '--force-conflicts',
      '-o',
      'name',
      '-f',
      '-',
    ],
    objects.map((o) => JSON.stringify(o)).join('\n'),
  );
}

/** `kind/name` as kubectl prints it: the lowercase plural-less resource kind with its group. */
function kubectlName(o: Manifest): string {
  const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
  return `${o.kind.toLowerCase()}${group}/${o.metadata.name}`;
}

describe('the chart on a real kube-apiserver', () => {
  before(() => {
    const created = kubectl(['create', 'namespace', namespace]);
    assert.equal(created.code, 0, created.output);
  });
  after(() => {
    kubectl(['delete', 'namespace', namespace, '--wait=false']);
  });

  for (const [name, args] of [
    ['with the defaults', []],
    ['with everything enabled', EVERYTHING],
  ] as const) {
    it(`accepts every core object it renders ${name}, in a server-side dry run`, async () => {
      const objects = await render([...args, '--include-crds'], namespace);
      const core = objects.filter((o) => !o.apiVersion.startsWith(MONITORING));
      assert.ok(core.length >= 20, `only ${core.length} objects`);
      const { code, output, stdout } = dryRun(core);
      assert.equal(code, 0, output);
      assert.deepEqual(stdout.trim().split('\n').sort(), core.map(kubectlName).sort());
    });
  }

  it('leaves out of the dry run only the monitoring.coreos.com objects', async () => {
    const objects = await render(EVERYTHING, namespace);
    assert.deepEqual(
      objects
        .filter((o) => o.apiVersion.startsWith(MONITORING))
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
      [
        'PrometheusRule/weir',
        'ServiceMonitor/weir-gateway',
        'ServiceMonitor/weir-operator',
        'ServiceMonitor/weir-processors',
      ],
    );
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'weir-dashboard');
    assert.ok(cm, 'the dashboard ConfigMap is rendered and dry-run with the core objects');
  });

  it('would notice an object the API server refuses', async () => {
    const objects = await render(EVERYTHING, namespace);
    const gateway = structuredClone(
      objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'weir-gateway')!,
    );
    (gateway.spec as { replicas: number }).replicas = -1;
    const refused = dryRun([gateway]);
    assert.notEqual(refused.code, 0, refused.output);
    assert.match(refused.output, /spec\.replicas: Invalid value: -1/);
    const dashboard = structuredClone(objects.find((o) => o.metadata.name === 'weir-dashboard')!);
    (dashboard as unknown as { dta: unknown }).dta = dashboard.data;
    const unknownField = dryRun([dashboard]);
    assert.notEqual(unknownField.code, 0, unknownField.output);
    assert.match(unknownField.output, /\.dta: field not declared in schema/);
  });

  it('is not installed by helm with a bad value, and helm names the field', async () => {
    const release = 'weir-refused';
    const install = await helm([
      'install',
      release,
      chart,
      '--namespace',
      namespace,
      '--set',
      'gateway.kafka.client=rdkafka',
    ]);
    assert.notEqual(install.code, 0, install.output);
    assert.match(install.output, /\/gateway\/kafka\/client': value must be one of 'platformatic', 'kafkajs'/);
    const releases = await helm(['list', '--namespace', namespace, '--all', '-q']);
    assert.equal(releases.code, 0, releases.output);
    assert.equal(releases.stdout.trim(), '');
    const deployments = kubectl(['get', 'deployments', '--namespace', namespace, '-o', 'name']);
    assert.equal(deployments.code, 0, deployments.output);
    assert.equal(deployments.stdout.trim(), '');
  });
});
