/**
 * The JobManager and SQL Gateway clients against the local environment's real Flink
 * session cluster: statements and their errors, a streaming job's life from submission
 * through savepoints, stop-with-savepoint and a restore, to cancel.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Errors, hasCode } from '../errors/errors.ts';
import { JobManagerClient, type JobState } from './job-manager-client.ts';
import { SqlGatewayClient } from './sql-gateway-client.ts';

function env(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run under hack/local-env/cli.ts run --with flink`);
  return value;
}

async function eventually<T>(check: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

let jobManager: JobManagerClient;
let gateway: SqlGatewayClient;
let session: string;

/** A job that runs until stopped: generated rows into a sink that drops them. */
const STREAMING_JOB = [
  `CREATE TEMPORARY TABLE gen (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10')`,
  `CREATE TEMPORARY TABLE sink (n BIGINT) WITH ('connector' = 'blackhole')`,
];

async function submitStreamingJob(name: string, savepoint?: string): Promise<string> {
  const s = await gateway.openSession({ 'pipeline.name': name });
  try {
    for (const statement of STREAMING_JOB) await gateway.run(s, statement);
    if (savepoint) await gateway.run(s, `SET 'execution.savepoint.path' = '${savepoint}'`);
    const { jobId } = await gateway.run(s, 'INSERT INTO sink SELECT n FROM gen');
    assert.match(jobId ?? '', /^[0-9a-f]{32}$/);
    submitted.push(jobId!);
    return jobId!;
  } finally {
    await gateway.closeSession(s);
  }
}

async function jobReaches(id: string, state: JobState): Promise<void> {
  await eventually(async () => {
    const job = await jobManager.job(id);
    assert.equal(job.state, state);
    // A savepoint needs every task running, which comes a little after the job's RUNNING.
    if (state === 'RUNNING')
      assert.ok(
        job.vertices.every((v) => v.status === 'RUNNING'),
        JSON.stringify(job),
      );
  });
}

const submitted: string[] = [];

before(async () => {
  jobManager = new JobManagerClient({ url: env('WEIR_FLINK_JOBMANAGER_URL') });
  gateway = new SqlGatewayClient({ url: env('WEIR_FLINK_SQL_GATEWAY_URL') });
  session = await gateway.openSession();
});

after(async () => {
  await gateway?.closeSession(session);
  // A failed run must not leave its jobs holding the slots of the next.
  await Promise.allSettled(submitted.map((id) => jobManager.cancel(id)));
});

describe('the SQL Gateway client', () => {
  it('runs DDL and queries in a session and returns their rows', async () => {
    assert.deepEqual((await gateway.run(session, `SET 'table.local-time-zone' = 'UTC'`)).rows, [['OK']]);
    const { rows } = await gateway.run(session, 'SELECT x * 2 FROM (VALUES (21)) AS t(x)');
    assert.deepEqual(rows.at(-1), [42]);
  });

  it("fails a statement Flink refuses with Flink's reason and the statement's start", async () => {
    await assert.rejects(gateway.run(session, 'SELECT * FROM no_such_table'), (err) => {
      assert.ok(hasCode(err, Errors.FlinkStatementFailed), String(err));
      assert.match(err.message, /^SELECT \* FROM no_such_table: .*no_such_table/);
      assert.doesNotMatch(err.message, /\tat org\.apache/);
      return true;
    });
  });

  it('reports a gateway that is not there as unavailable', async () => {
    const nowhere = new SqlGatewayClient({ url: 'http://127.0.0.1:1', timeoutMs: 2000 });
    await assert.rejects(nowhere.openSession(), (err) => hasCode(err, Errors.FlinkUnavailable));
  });
});

describe('the JobManager client', () => {
  it('sees the cluster with its TaskManager and free slots', async () => {
    const overview = await jobManager.overview();
    assert.equal(overview.flinkVersion, '2.2.1');
    assert.ok(overview.taskManagers >= 1 && overview.slotsTotal >= 1);
  });

  it('follows a job from submission through savepoints and a restore to cancel', async () => {
    const name = `weir-client-test-${randomBytes(4).toString('hex')}`;
    const first = await submitStreamingJob(name);
    await jobReaches(first, 'RUNNING');
    assert.equal((await jobManager.jobs()).find((j) => j.id === first)?.name, name);

    // A trigger id chosen by the caller makes a repeated request the same savepoint.
    const trigger = randomBytes(16).toString('hex');
    assert.equal(await jobManager.triggerSavepoint(first, { triggerId: trigger }), trigger);
    const taken = await eventually(async () => {
      const status = await jobManager.savepointStatus(first, trigger);
      assert.equal(status.state, 'Completed', JSON.stringify(status));
      return status.state === 'Completed' ? status.location : '';
    });
    assert.match(taken, /^file:\//);
    await jobManager.triggerSavepoint(first, { triggerId: trigger });
    assert.deepEqual(await jobManager.savepointStatus(first, trigger), { state: 'Completed', location: taken });
    assert.equal((await jobManager.job(first)).state, 'RUNNING', 'a savepoint alone keeps the job running');

    const stop = await jobManager.stopWithSavepoint(first);
    const stopped = await eventually(async () => {
      const status = await jobManager.savepointStatus(first, stop);
      assert.equal(status.state, 'Completed', JSON.stringify(status));
      return status.state === 'Completed' ? status.location : '';
    });
    await jobReaches(first, 'FINISHED');
    assert.equal((await jobManager.checkpoints(first)).latestSavepoint, stopped);

    const second = await submitStreamingJob(name, stopped);
    await jobReaches(second, 'RUNNING');
    const restored = await eventually(async () => {
      const { restoredFrom } = await jobManager.checkpoints(second);
      assert.ok(restoredFrom);
      return restoredFrom;
    });
    assert.equal(restored.replace(/\/$/, ''), stopped.replace(/\/$/, ''));

    await jobManager.cancel(second);
    await jobReaches(second, 'CANCELED');
    await jobManager.cancel(second);
  });

  it('says a job it does not know is not found', async () => {
    const unknown = randomBytes(16).toString('hex');
    await assert.rejects(jobManager.job(unknown), (err) => hasCode(err, Errors.FlinkJobNotFound));
    await assert.rejects(jobManager.cancel(unknown), (err) => hasCode(err, Errors.FlinkJobNotFound));
  });

  it('reports the failure of a job that failed', async () => {
    const s = await gateway.openSession({
      'pipeline.name': 'weir-client-test-failing',
      'restart-strategy.type': 'none',
    });
    try {
      await gateway.run(
        s,
        `CREATE TEMPORARY TABLE five (n INT) WITH ('connector' = 'datagen', 'number-of-rows' = '5')`,
      );
      await gateway.run(s, `CREATE TEMPORARY TABLE sink (n INT) WITH ('connector' = 'blackhole')`);
      const { jobId } = await gateway.run(s, 'INSERT INTO sink SELECT 1 / (n - n) FROM five');
      await jobReaches(jobId!, 'FAILED');
      assert.match((await jobManager.lastFailure(jobId!)) ?? '', /zero/i);
    } finally {
      await gateway.closeSession(s);
    }
  });
});
