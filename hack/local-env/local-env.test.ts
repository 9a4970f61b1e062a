import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { reapStaleEnvironments, resolveComponents } from './local-env.ts';
import { alive } from './managed-process.ts';

describe('resolveComponents', () => {
  it('adds etcd and the API server when only a controller is asked for, in start order', () => {
    assert.deepEqual(resolveComponents(['kube-scheduler']), ['etcd', 'kube-apiserver', 'kube-scheduler']);
  });

  it('expands groups and keeps the start order whatever the request order', () => {
    assert.deepEqual(resolveComponents(['redis', 'kube-api', 'kafka']), ['etcd', 'kube-apiserver', 'kafka', 'redis']);
    assert.equal(resolveComponents(['all']).length, 8);
  });

  it('leaves Flink out of all and starts its JobManager with any other part of it', () => {
    assert.ok(!resolveComponents(['all']).some((n) => n.startsWith('flink-')));
    assert.deepEqual(resolveComponents(['kafka', 'flink']), [
      'kafka',
      'flink-jobmanager',
      'flink-taskmanager',
      'flink-sql-gateway',
    ]);
    assert.deepEqual(resolveComponents(['flink-sql-gateway']), ['flink-jobmanager', 'flink-sql-gateway']);
  });

  it('names the choices when a component is unknown', () => {
    assert.throws(
      () => resolveComponents(['zookeeper']),
      /unknown component 'zookeeper'; choose from kube, kube-api, all, flink, etcd/,
    );
  });
});

describe('reapStaleEnvironments', () => {
  it('kills the processes and removes the directory of an environment whose owner died', async () => {
    const owner = spawn('true');
    await new Promise((resolve) => owner.once('exit', resolve));
    const orphan = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    const dir = mkdtempSync(join(tmpdir(), 'weir-env-'));
    writeFileSync(join(dir, 'owner'), String(owner.pid));
    writeFileSync(join(dir, 'pids'), `${orphan.pid}\n`);
    const exited = new Promise((resolve) => orphan.once('exit', resolve));

    reapStaleEnvironments();

    await Promise.race([exited, sleep(5000)]);
    assert.equal(alive(orphan.pid!), false, 'the orphan still runs');
    assert.equal(existsSync(dir), false, 'the directory is still there');
  });

  it('leaves an environment alone while its owner lives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-env-'));
    writeFileSync(join(dir, 'owner'), String(process.pid));
    try {
      reapStaleEnvironments();
      assert.equal(existsSync(dir), true);
    } finally {
      writeFileSync(join(dir, 'owner'), '0');
      reapStaleEnvironments();
    }
  });
});
