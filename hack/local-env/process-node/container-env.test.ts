import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { commandLine, containerEnv, expandReferences } from './container-env.ts';
import { referencedObjects, tokenRequests, type PodSources } from './pod-sources.ts';

const pod: V1Pod = {
  metadata: { name: 'clicks-processor-abc', namespace: 'tenant-acme', uid: 'u-1', labels: { app: 'weir' } },
  spec: { nodeName: 'weir-process-node', serviceAccountName: 'default', containers: [] },
};
const fields = { podIP: '127.42.0.9', hostIP: '127.0.0.1' };

function sources(
  configMaps: Record<string, Record<string, string>> = {},
  secrets: Record<string, Record<string, string>> = {},
): PodSources {
  const bytes = (o: Record<string, string>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));
  return {
    configMaps: new Map(Object.entries(configMaps).map(([k, v]) => [k, bytes(v)])),
    secrets: new Map(Object.entries(secrets).map(([k, v]) => [k, bytes(v)])),
  };
}

function env(container: Partial<V1Container>, s = sources()): Record<string, string> {
  return Object.fromEntries(containerEnv(pod, { name: 'c', ...container }, s, fields));
}

describe('$(VAR) expansion', () => {
  const vars: Record<string, string> = { A: 'x', B: 'y' };
  const lookup = (n: string) => vars[n];
  for (const [input, expected] of [
    ['$(A)-$(B)', 'x-y'],
    ['$$(A)', '$(A)'],
    ['$(MISSING)', '$(MISSING)'],
    ['$(A', '$(A'],
    ['cost: $5', 'cost: $5'],
    ['trailing $', 'trailing $'],
    ['$$$(A)', '$x'],
  ] as const) {
    it(`turns '${input}' into '${expected}'`, () => assert.equal(expandReferences(input, lookup), expected));
  }
});

describe('a container environment', () => {
  it('resolves plain values, in order, referring only to variables defined before', () => {
    assert.deepEqual(
      env({
        env: [
          { name: 'LATER_REF', value: '$(HOST)' },
          { name: 'HOST', value: 'h' },
          { name: 'URL', value: 'http://$(HOST):80' },
        ],
      }),
      {
        LATER_REF: '$(HOST)',
        HOST: 'h',
        URL: 'http://h:80',
      },
    );
  });

  it('resolves fieldRefs to the pod, the node and the pod IP', () => {
    const fieldRef = (fieldPath: string) => ({ fieldRef: { fieldPath } });
    assert.deepEqual(
      env({
        env: [
          { name: 'NAME', valueFrom: fieldRef('metadata.name') },
          { name: 'NS', valueFrom: fieldRef('metadata.namespace') },
          { name: 'IP', valueFrom: fieldRef('status.podIP') },
          { name: 'NODE', valueFrom: fieldRef('spec.nodeName') },
          { name: 'APP', valueFrom: fieldRef("metadata.labels['app']") },
        ],
      }),
      { NAME: 'clicks-processor-abc', NS: 'tenant-acme', IP: '127.42.0.9', NODE: 'weir-process-node', APP: 'weir' },
    );
  });

  it('reads ConfigMap and Secret keys, and envFrom with a prefix before env', () => {
    const s = sources({ settings: { level: 'debug', mode: 'fast' } }, { creds: { password: 's3cret' } });
    assert.deepEqual(
      env(
        {
          envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }],
          env: [
            { name: 'CFG_mode', value: 'slow' },
            { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'level' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
          ],
        },
        s,
      ),
      { CFG_level: 'debug', CFG_mode: 'slow', LEVEL: 'debug', PASSWORD: 's3cret' },
    );
  });

  it('fails like the kubelet when a ConfigMap or key is missing, and skips optional ones', () => {
    const s = sources({ settings: { level: 'debug' } });
    assert.throws(() => env({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] }, s), {
      message: 'configmap "nope" not found',
      reason: 'CreateContainerConfigError',
    } as object);
    assert.throws(() => env({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, s), {
      message: 'secret "nope" not found',
    });
    assert.throws(
      () => env({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'k' } } }] }, s),
      { message: "couldn't find key k in ConfigMap tenant-acme/settings" },
    );
    assert.deepEqual(
      env({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } } }] }, s),
      {},
    );
  });

  it('expands $(VAR) in command and args from the environment', () => {
    const e = containerEnv(
      pod,
      { name: 'c', env: [{ name: 'CONFIG', value: '/etc/weir/pipeline.json' }] },
      sources(),
      fields,
    );
    assert.deepEqual(
      commandLine({ name: 'c', command: ['node', 'main.ts'], args: ['--config=$(CONFIG)', '$$(CONFIG)'] }, e),
      ['node', 'main.ts', '--config=/etc/weir/pipeline.json', '$(CONFIG)'],
    );
  });
});

describe('the objects a pod refers to', () => {
  it('collects ConfigMaps and Secrets from env, envFrom and volumes', () => {
    const refs = referencedObjects({
      spec: {
        containers: [
          {
            name: 'c',
            env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }],
            envFrom: [{ configMapRef: { name: 'c1' } }],
          },
        ],
        volumes: [
          { name: 'config', configMap: { name: 'c2' } },
          { name: 'creds', secret: { secretName: 's2' } },
          { name: 'both', projected: { sources: [{ configMap: { name: 'c3' } }, { secret: { name: 's3' } }] } },
        ],
      },
    });
    assert.deepEqual([...refs.configMaps].sort(), ['c1', 'c2', 'c3']);
    assert.deepEqual([...refs.secrets].sort(), ['s1', 's2', 's3']);
  });

  it('collects the service account tokens projected volumes ask for, once each', () => {
    const token = (expirationSeconds?: number, audience?: string) => ({
      name: `t${expirationSeconds}${audience}`,
      projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds, audience } }] },
    });
    assert.deepEqual(
      tokenRequests({ spec: { containers: [], volumes: [token(3607), token(3607), token(undefined, 'vault')] } }),
      [
        { audience: undefined, expirationSeconds: 3607 },
        { audience: 'vault', expirationSeconds: 3600 },
      ],
    );
  });
});
