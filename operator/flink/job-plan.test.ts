import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Translation } from './flink-sql.ts';
import { FlinkReason, planJob, triggerId, type JobObservation, type LiveJob } from './job-plan.ts';

const SIG_A = 'a'.repeat(16);
const SIG_B = 'b'.repeat(16);
const NEW = `weir/ns/p@${SIG_A}.${'1'.repeat(12)}`;
/** An older SQL with the same state. */
const OLD = `weir/ns/p@${SIG_A}.${'2'.repeat(12)}`;
/** An older SQL with another state. */
const OTHER = `weir/ns/p@${SIG_B}.${'3'.repeat(12)}`;

const desired: Translation = { ok: true, job: { name: NEW, statements: [], stateSignature: SIG_A } };

function observe(o: Partial<JobObservation> = {}): JobObservation {
  return {
    uid: 'uid-1',
    desiredPhase: 'Running',
    topicsReady: true,
    translation: desired,
    flink: {},
    discardState: false,
    ...o,
  };
}

const running = (name = NEW, id = 'job-1'): LiveJob => ({
  id,
  name,
  state: 'RUNNING',
  allTasksRunning: true,
});
const jobCondition = (plan: ReturnType<typeof planJob>) => plan.conditions.find((c) => c.type === 'FlinkJobReady');

describe('planJob', () => {
  it('submits a new job without a savepoint when the topics are ready', () => {
    const plan = planJob(observe());
    assert.deepEqual(plan.action, { kind: 'Submit', savepoint: undefined });
    assert.equal(plan.flink.jobName, NEW);
    assert.equal(plan.flink.lastSavepoint, undefined);
    assert.equal(jobCondition(plan)?.reason, FlinkReason.Submitted);
  });

  it('waits for the topics before the first submission', () => {
    const plan = planJob(observe({ topicsReady: false }));
    assert.equal(plan.action.kind, 'None');
    assert.equal(jobCondition(plan)?.reason, FlinkReason.WaitingForTopics);
  });

  it('reports a running job as ready, records it and looks again later', () => {
    const plan = planJob(observe({ live: running() }));
    assert.equal(plan.action.kind, 'None');
    assert.equal(plan.flink.jobId, 'job-1');
    assert.equal(plan.flink.jobState, 'RUNNING');
    assert.deepEqual([jobCondition(plan)?.status, jobCondition(plan)?.reason], ['True', FlinkReason.JobRunning]);
    assert.ok(plan.requeueAfterMs > 0);
  });

  it("reports a restarting job as not ready with Flink's reason", () => {
    const live = {
      ...running(),
      state: 'RESTARTING' as const,
      allTasksRunning: false,
      lastFailure: 'TaskManager lost',
    };
    const plan = planJob(observe({ live }));
    assert.equal(jobCondition(plan)?.reason, FlinkReason.JobRestarting);
    assert.match(jobCondition(plan)?.message ?? '', /TaskManager lost/);
  });

  it('upgrades a job whose SQL changed with a stop-with-savepoint under a repeatable trigger id', () => {
    const o = observe({ live: running(OLD), flink: { stateSignature: SIG_A } });
    const plan = planJob(o);
    const id = triggerId('uid-1', 'Upgrade', 'job-1', NEW, '1');
    assert.deepEqual(plan.action, { kind: 'StopWithSavepoint', jobId: 'job-1', triggerId: id });
    assert.deepEqual(plan.flink.operation, { kind: 'Upgrade', jobId: 'job-1', triggerId: id, attempt: 1 });
    assert.deepEqual(planJob(o).action, plan.action, 'the same observation asks for the same savepoint');
  });

  it('refuses an upgrade whose state does not fit the savepoint and leaves the old job running', () => {
    const plan = planJob(observe({ live: running(OTHER) }));
    assert.equal(plan.action.kind, 'None');
    assert.equal(jobCondition(plan)?.reason, FlinkReason.UpgradeRefused);
    assert.match(jobCondition(plan)?.message ?? '', /weir\.dev\/flink-discard-state=true/);
  });

  it('cancels a job that cannot take a savepoint to replace it when its checkpoint fits the new spec', () => {
    const live = {
      ...running(OLD),
      state: 'RESTARTING' as const,
      allTasksRunning: false,
      latestCheckpoint: 'file:/cp/7',
    };
    const plan = planJob(observe({ live }));
    assert.deepEqual(plan.action, { kind: 'Cancel', jobId: 'job-1' });
    assert.match(jobCondition(plan)?.message ?? '', /file:\/cp\/7/);
    const refused = planJob(observe({ live: { ...live, name: OTHER } }));
    assert.equal(refused.action.kind, 'None');
    assert.equal(jobCondition(refused)?.reason, FlinkReason.UpgradeRefused);
  });

  it('reports a restore Flink refuses, and that the savepoint still holds the state', () => {
    const live = {
      ...running(),
      state: 'RESTARTING' as const,
      allTasksRunning: false,
      checkpointsCompleted: 0,
      lastFailure: 'StateMigrationException: For heap backends, the new state serializer must not be incompatible',
    };
    const plan = planJob(observe({ live, flink: { lastSavepoint: 'file:/sp/5' } }));
    assert.equal(jobCondition(plan)?.reason, FlinkReason.RestoreFailed);
    assert.match(jobCondition(plan)?.message ?? '', /savepoint still holds the state/);
  });

  it('upgrades without the state only when the annotation says so', () => {
    const plan = planJob(
      observe({ flink: { stateSignature: SIG_B, lastSavepoint: 'file:/sp/1' }, discardState: true }),
    );
    assert.deepEqual(plan.action, { kind: 'Submit', savepoint: undefined });
    assert.equal(plan.flink.lastSavepoint, undefined, 'the old savepoint no longer says what the job holds');
  });

  it('records the savepoint a finished stop took, then submits the upgrade from it', () => {
    const operation = { kind: 'Upgrade' as const, jobId: 'job-1', triggerId: 't', attempt: 1 };
    const stopped = planJob(
      observe({
        flink: { operation },
        ended: { id: 'job-1', name: OLD, state: 'FINISHED' },
        operationStatus: { state: 'Completed', location: 'file:/sp/2' },
      }),
    );
    assert.equal(stopped.flink.lastSavepoint, 'file:/sp/2');
    assert.equal(stopped.flink.stateSignature, SIG_A, 'the savepoint holds the state of the job that took it');
    assert.equal(stopped.flink.operation, undefined);
    const next = planJob(observe({ flink: stopped.flink, ended: { id: 'job-1', name: OLD, state: 'FINISHED' } }));
    assert.deepEqual(next.action, { kind: 'Submit', savepoint: 'file:/sp/2' });
  });

  it('resumes from the savepoint a stopped job ended with, as Flink remembers it, when the status lags', () => {
    const plan = planJob(
      observe({
        flink: { jobId: 'job-1', lastSavepoint: 'file:/sp/older', stateSignature: SIG_A },
        ended: { id: 'job-1', name: OLD, state: 'FINISHED', latestCheckpoint: 'file:/sp/final' },
      }),
    );
    assert.deepEqual(plan.action, { kind: 'Submit', savepoint: 'file:/sp/final' });
  });

  it('waits while a savepoint is in progress', () => {
    const operation = { kind: 'Suspend' as const, jobId: 'job-1', triggerId: 't', attempt: 1 };
    const plan = planJob(observe({ flink: { operation }, live: running(), operationStatus: { state: 'InProgress' } }));
    assert.equal(plan.action.kind, 'None');
    assert.equal(jobCondition(plan)?.reason, FlinkReason.Suspending);
  });

  it('tries a failed stop-with-savepoint again with a new trigger id', () => {
    const operation = { kind: 'Suspend' as const, jobId: 'job-1', triggerId: 't1', attempt: 1 };
    const plan = planJob(
      observe({
        desiredPhase: 'Paused',
        flink: { operation },
        live: running(),
        operationStatus: { state: 'Failed', reason: 'timed out' },
      }),
    );
    assert.equal(plan.action.kind, 'StopWithSavepoint');
    assert.equal(plan.flink.operation?.attempt, 2);
    assert.notEqual(plan.flink.operation?.triggerId, 't1');
    assert.equal(jobCondition(plan)?.reason, FlinkReason.SavepointFailed);
  });

  it('suspends a running job with a savepoint when Paused, and reports Suspended once it ended', () => {
    const suspend = planJob(observe({ desiredPhase: 'Paused', live: running() }));
    assert.equal(suspend.action.kind, 'StopWithSavepoint');
    assert.equal(suspend.flink.operation?.kind, 'Suspend');
    const suspended = planJob(observe({ desiredPhase: 'Paused', flink: { lastSavepoint: 'file:/sp/3' } }));
    assert.equal(suspended.action.kind, 'None');
    assert.deepEqual(
      [jobCondition(suspended)?.status, jobCondition(suspended)?.reason],
      ['True', FlinkReason.Suspended],
    );
  });

  it('resumes from the last savepoint when Running again', () => {
    const plan = planJob(
      observe({
        flink: { lastSavepoint: 'file:/sp/3', stateSignature: SIG_A, jobId: 'job-1' },
        ended: { id: 'job-1', name: NEW, state: 'FINISHED' },
      }),
    );
    assert.deepEqual(plan.action, { kind: 'Submit', savepoint: 'file:/sp/3' });
  });

  it('takes a savepoint on demand once per annotation value', () => {
    const ask = planJob(observe({ live: running(), savepointAnnotation: 'one' }));
    assert.equal(ask.action.kind, 'TriggerSavepoint');
    assert.equal(ask.flink.operation?.kind, 'Savepoint');
    const done = planJob(
      observe({
        live: running(),
        savepointAnnotation: 'one',
        flink: ask.flink,
        operationStatus: { state: 'Completed', location: 'file:/sp/4' },
      }),
    );
    assert.equal(done.flink.savepointRequest, 'one');
    assert.equal(done.flink.lastSavepoint, 'file:/sp/4');
    assert.equal(done.conditions.find((c) => c.type === 'FlinkSavepointReady')?.status, 'True');
    assert.equal(
      planJob(observe({ live: running(), savepointAnnotation: 'one', flink: done.flink })).action.kind,
      'None',
    );
  });

  it('does not resubmit a job of the same SQL that Flink gave up on', () => {
    const plan = planJob(
      observe({
        flink: { jobId: 'job-1', stateSignature: SIG_A },
        ended: { id: 'job-1', name: NEW, state: 'FAILED', lastFailure: 'boom' },
      }),
    );
    assert.equal(plan.action.kind, 'None');
    assert.equal(jobCondition(plan)?.reason, FlinkReason.JobFailed);
  });

  it('resumes a job cancelled behind its back from its last retained checkpoint', () => {
    const plan = planJob(
      observe({
        flink: { jobId: 'job-1', stateSignature: SIG_A, lastSavepoint: 'file:/sp/old' },
        ended: { id: 'job-1', name: NEW, state: 'CANCELED', latestCheckpoint: 'file:/cp/chk-9' },
      }),
    );
    assert.deepEqual(plan.action, { kind: 'Submit', savepoint: 'file:/cp/chk-9' });
  });

  it('leaves a running job alone when the new spec is unsupported', () => {
    const plan = planJob(
      observe({ live: running(OLD), translation: { ok: false, reason: 'Unsupported', message: 'no' } }),
    );
    assert.equal(plan.action.kind, 'None');
    assert.equal(jobCondition(plan)?.reason, FlinkReason.Unsupported);
    assert.match(jobCondition(plan)?.message ?? '', /keeps running/);
  });
});
