import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { PodSources } from './pod-sources.ts';
import { mountTargets, rewriteMountPaths, unsupportedVolumes, volumeContent, writeVolume } from './volumes.ts';

const sources: PodSources = {
  configMaps: new Map([['clicks-processor', { 'pipeline.json': Buffer.from('{"a":1}'), extra: Buffer.from('x') }]]),
  secrets: new Map([['creds', { password: Buffer.from('s3cret') }]]),
};

describe('volume contents', () => {
  it('projects every key of a ConfigMap as a file, 0644 unless told otherwise', () => {
    const content = volumeContent({ name: 'config', configMap: { name: 'clicks-processor' } }, sources);
    assert.equal(content.kind, 'files');
    assert.deepEqual(content.kind === 'files' && content.files.map((f) => [f.path, f.content.toString(), f.mode]), [
      ['pipeline.json', '{"a":1}', 0o644],
      ['extra', 'x', 0o644],
    ]);
  });

  it('projects only the listed items of a Secret, at their paths and modes', () => {
    const content = volumeContent(
      {
        name: 'creds',
        secret: { secretName: 'creds', items: [{ key: 'password', path: 'db/password', mode: 0o400 }] },
      },
      sources,
    );
    assert.deepEqual(content.kind === 'files' && content.files.map((f) => [f.path, f.content.toString(), f.mode]), [
      ['db/password', 's3cret', 0o400],
    ]);
  });

  it('waits, as the kubelet does, for a ConfigMap that does not exist yet', () => {
    assert.throws(() => volumeContent({ name: 'config', configMap: { name: 'later' } }, sources), {
      reason: 'ContainerCreating',
      message: 'MountVolume.SetUp failed for volume "config" : configmap "later" not found',
    } as object);
    assert.deepEqual(volumeContent({ name: 'config', configMap: { name: 'later', optional: true } }, sources), {
      kind: 'files',
      files: [],
    });
  });

  it('refuses keys that would leave the volume', () => {
    assert.throws(
      () =>
        volumeContent(
          { name: 'c', configMap: { name: 'clicks-processor', items: [{ key: 'extra', path: '../../etc/passwd' }] } },
          sources,
        ),
      /leaves the volume/,
    );
  });

  it("projects the API server's default kube-api-access volume: token, CA and namespace", () => {
    const withToken: PodSources = {
      configMaps: new Map([['kube-root-ca.crt', { 'ca.crt': Buffer.from('PEM') }]]),
      secrets: new Map(),
      tokens: new Map([['/3607', 'jwt']]),
    };
    const volume = {
      name: 'kube-api-access-x',
      projected: {
        defaultMode: 0o644,
        sources: [
          { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          {
            downwardAPI: {
              items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
            },
          },
        ],
      },
    };
    const content = volumeContent(volume, withToken, (path) => (path === 'metadata.namespace' ? 'tenant-acme' : ''));
    assert.deepEqual(content.kind === 'files' && content.files.map((f) => [f.path, f.content.toString()]), [
      ['token', 'jwt'],
      ['ca.crt', 'PEM'],
      ['namespace', 'tenant-acme'],
    ]);
  });

  it('names the volumes it cannot provide', () => {
    assert.deepEqual(
      unsupportedVolumes({
        spec: {
          containers: [],
          volumes: [
            { name: 'data', hostPath: { path: '/var/data' } },
            { name: 'scratch', emptyDir: {} },
          ],
        },
      }),
      ['data (hostPath)'],
    );
  });

  it('writes files with their modes and replaces an older version whole', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'weir-volume-')), 'config');
    writeVolume(dir, {
      kind: 'files',
      files: [
        { path: 'a/b.json', content: Buffer.from('1'), mode: 0o640 },
        { path: 'old', content: Buffer.from('o'), mode: 0o644 },
      ],
    });
    writeVolume(dir, { kind: 'files', files: [{ path: 'a/b.json', content: Buffer.from('2'), mode: 0o640 }] });
    assert.equal(readFileSync(join(dir, 'a/b.json'), 'utf8'), '2');
    assert.equal(statSync(join(dir, 'a/b.json')).mode & 0o777, 0o640);
    assert.throws(() => statSync(join(dir, 'old')));
  });
});

describe('mount path rewriting', () => {
  const targets = mountTargets(
    [
      { name: 'config', mountPath: '/etc/weir' },
      { name: 'creds', mountPath: '/etc/weir/creds/' },
      { name: 'config', mountPath: '/app/pipeline.json', subPath: 'pipeline.json' },
    ],
    new Map([
      ['config', '/tmp/env/pods/u/volumes/config'],
      ['creds', '/tmp/env/pods/u/volumes/creds'],
    ]),
  );

  for (const [input, expected] of [
    ['/etc/weir/pipeline.json', '/tmp/env/pods/u/volumes/config/pipeline.json'],
    ['/etc/weir', '/tmp/env/pods/u/volumes/config'],
    ['--config=/etc/weir/pipeline.json', '--config=/tmp/env/pods/u/volumes/config/pipeline.json'],
    ['/etc/weir/creds/password', '/tmp/env/pods/u/volumes/creds/password'],
    ['/app/pipeline.json', '/tmp/env/pods/u/volumes/config/pipeline.json'],
    [
      '/etc/weir/a.json:/etc/weir/b.json',
      '/tmp/env/pods/u/volumes/config/a.json:/tmp/env/pods/u/volumes/config/b.json',
    ],
    ['/etc/weirdo/x', '/etc/weirdo/x'],
    ['/opt/etc/weir/x', '/opt/etc/weir/x'],
    ['relative/etc/weir', 'relative/etc/weir'],
    ['no paths here', 'no paths here'],
  ] as const) {
    it(`turns '${input}' into '${expected}'`, () => assert.equal(rewriteMountPaths(input, targets), expected));
  }

  it('refuses a mount of a volume the pod does not have', () => {
    assert.throws(
      () => mountTargets([{ name: 'nope', mountPath: '/x' }], new Map()),
      /refers to volume "nope", which the pod does not have/,
    );
  });
});
