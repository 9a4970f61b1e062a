/**
 * The Weir API on a real API server: the CRDs install, every example applies with kubectl
 * and with @kubernetes/client-node, kubectl shows the printer columns and field docs, and
 * every bad manifest in e2e/invalid is rejected at admission with a message that names
 * the field and the reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { weirKinds } from '../crds/index.ts';
import {
  apiErrorMessage,
  applyWeirObject,
  connect,
  deleteWeirObject,
  ensureNamespace,
  installCrds,
  kubectl,
  readManifests,
  root,
  yamlFiles,
  type Clients,
} from './cluster.ts';

const ADMISSION_NAMESPACE = 'weir-e2e-admission';
const EXAMPLES_NAMESPACE = 'tenant-acme';

/** Expected error fragments from a bad manifest's `# expect:` header lines. */
function expectations(path: string): string[] {
  const found = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => /^# expect: (.*)$/.exec(l)?.[1])
    .filter((e): e is string => e !== undefined);
  assert.ok(found.length > 0, `${basename(path)} has no '# expect:' line`);
  return found;
}

let clients: Clients;
const created: KubernetesObject[] = [];

before(async () => {
  clients = connect();
  await installCrds(clients);
  // Until the Tenant controller creates tenant namespaces, the tests create them.
  await ensureNamespace(clients.core, EXAMPLES_NAMESPACE);
  await ensureNamespace(clients.core, ADMISSION_NAMESPACE);
});

after(async () => {
  for (const obj of created.reverse()) await deleteWeirObject(clients.custom, obj);
  for (const file of yamlFiles(join(root, 'examples')))
    kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', file]);
});

describe('the CRDs', () => {
  it('are installed with the weir category, short names and a status subresource', async () => {
    const listed = kubectl(['api-resources', '--api-group=weir.dev', '-o', 'wide']);
    assert.equal(listed.status, 0, listed.stderr);
    for (const def of weirKinds) {
      const line = listed.stdout.split('\n').find((l) => l.startsWith(`${def.plural} `));
      assert.ok(line, `${def.plural} is not served:\n${listed.stdout}`);
      for (const shortName of def.shortNames) assert.match(line, new RegExp(`\\b${shortName}\\b`));
      assert.match(line, /\bweir\b/, `${def.plural} is not in the weir category`);
      const crd = await clients.apiext.readCustomResourceDefinition({ name: `${def.plural}.weir.dev` });
      assert.deepEqual(crd.spec.versions[0]?.subresources?.status, {});
    }
  });

  it('document every field for kubectl explain', async () => {
    const cases: [string, RegExp][] = [
      ['pipeline.spec.source.partitions', /Partitions of the input topic .* Can only grow/],
      ['pipeline.spec.aggregate.window', /Tumbling \(fixed, non-overlapping\)/],
      ['pipeline.spec.aggregate.measures.percentiles', /strictly between 0 and 100/],
      ['tenant.spec.quotas.eventsPerSecond', /Events per second the gateways accept/],
      ['ratelimitpolicy.spec.onStoreFailure', /Redis is unreachable/],
      ['region.spec.redis.sentinelMasterName', /primary the sentinels watch/],
    ];
    // The OpenAPI document kubectl explain reads is published shortly after a CRD is established.
    const deadline = Date.now() + 30_000;
    while (kubectl(['explain', 'pipeline']).status !== 0 && Date.now() < deadline) await sleep(250);
    for (const [path, expected] of cases) {
      const explained = kubectl(['explain', path]);
      assert.equal(explained.status, 0, explained.stderr);
      assert.match(explained.stdout.replace(/\s+/g, ' '), expected, `kubectl explain ${path}`);
    }
  });
});

describe('the examples', () => {
  it('apply with kubectl apply --server-side', () => {
    const applied = kubectl([
      'apply',
      '--server-side',
      '--field-manager=weir-e2e-kubectl',
      '-f',
      join(root, 'examples'),
    ]);
    assert.equal(applied.status, 0, applied.stderr);
    assert.equal(
      applied.stdout
        .trim()
        .split('\n')
        .filter((l) => l.includes('serverside-applied')).length,
      yamlFiles(join(root, 'examples')).length,
    );
  });

  it('apply with @kubernetes/client-node and come back with defaults filled in', async () => {
    for (const file of yamlFiles(join(root, 'examples'))) {
      for (const obj of readManifests(file)) {
        const applied = (await applyWeirObject(clients.custom, obj)) as KubernetesObject & {
          spec: Record<string, unknown>;
        };
        assert.equal(applied.metadata?.name, obj.metadata?.name);
        if (obj.kind === 'Pipeline') {
          assert.deepEqual(applied.spec.failure, {
            maxRetries: 5,
            backoff: { initial: '500ms', max: '2m', multiplier: 2 },
          });
          const aggregations = applied.spec.aggregate as {
            name: string;
            allowedLateness: string;
            eventTime: { maxOutOfOrderness: string };
          }[];
          assert.equal(
            aggregations.find((a) => a.name === 'sessions')?.eventTime.maxOutOfOrderness,
            '5s',
            'defaults apply inside list items',
          );
        }
      }
    }
  });

  it('show their printer columns in kubectl get', () => {
    const pipelines = kubectl(['get', 'pipelines', '-n', EXAMPLES_NAMESPACE, '-o', 'wide']);
    assert.equal(pipelines.status, 0, pipelines.stderr);
    const [header, row] = pipelines.stdout.trim().split('\n');
    assert.match(header ?? '', /^NAME\s+ENGINE\s+PARTITIONS\s+DESIRED\s+PHASE\s+READY\s+REPLICAS\s+AGE$/);
    assert.match(row ?? '', /^clickstream\s+Native\s+12\s+Running\s/);
    const tenants = kubectl(['get', 'tenants']);
    assert.match(tenants.stdout.split('\n')[0] ?? '', /^NAME\s+TENANT NAMESPACE\s+READY\s+PHASE\s+AGE$/);
    const all = kubectl(['get', 'weir', '-A']);
    assert.equal(all.status, 0, all.stderr);
    for (const name of [
      'pipeline.weir.dev/clickstream',
      'tenant.weir.dev/acme',
      'ratelimitpolicy.weir.dev/clickstream-limits',
      'region.weir.dev/eu-west-1',
    ]) {
      assert.ok(all.stdout.includes(name), `kubectl get weir -A lacks ${name}:\n${all.stdout}`);
    }
  });
});

describe('bad manifests', () => {
  const files = yamlFiles(join(import.meta.dirname, 'invalid'));

  it('are all exercised', () => {
    assert.ok(files.length >= 20, `only ${files.length} bad manifests`);
  });

  for (const file of files) {
    const name = basename(file, '.yaml');
    const docs = readManifests(file);
    const rejected = docs.at(-1)!;
    const setup = docs.slice(0, -1);

    it(`${name}: rejected by kubectl with the field and the reason`, async () => {
      for (const obj of setup) {
        created.push(await applyWeirObject(clients.custom, obj));
      }
      const result = kubectl(
        ['apply', '--server-side', '--force-conflicts', '--field-manager=weir-e2e-kubectl', '-f', '-'],
        stringify(rejected),
      );
      assert.notEqual(result.status, 0, `kubectl accepted ${name}:\n${result.stdout}`);
      for (const expected of expectations(file))
        assert.ok(result.stderr.includes(expected), `kubectl's error lacks «${expected}»:\n${result.stderr}`);
    });

    it(`${name}: rejected through @kubernetes/client-node with the field and the reason`, async () => {
      for (const obj of setup) created.push(await applyWeirObject(clients.custom, obj));
      const err = await applyWeirObject(clients.custom, rejected).then(
        () => assert.fail(`the API server accepted ${name}`),
        (e: unknown) => e,
      );
      const message = apiErrorMessage(err);
      for (const expected of expectations(file))
        assert.ok(message.includes(expected), `the API error lacks «${expected}»:\n${message}`);
    });
  }
});
