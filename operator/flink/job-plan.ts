/**
 * What to do next with a Flink pipeline's job, as a pure function of what the Pipeline
 * asks for, what its status recorded and what Flink reports: submit (from the last
 * savepoint when its state fits), stop with a savepoint to upgrade or suspend, take a
 * savepoint on demand, or wait; with the FlinkJobReady condition that says where it stands.
 * A change Flink could not restore the savepoint into is refused, never run without state.
 */
import { createHash } from 'node:crypto';
import type { PipelineStatus } from '../../crds/pipeline.ts';
import type { JobState, SavepointStatus } from '../../lib/flink/job-manager-client.ts';
import type { ConditionUpdate } from '../../lib/kube/conditions.ts';
import { signatureOfJobName, type Translation } from './flink-sql.ts';

export type FlinkStatus = NonNullable<PipelineStatus['flink']>;
type Operation = NonNullable<FlinkStatus['operation']>;

/** Holds a Flink pipeline until its job is cancelled. */
export const FLINK_FINALIZER = 'weir.dev/flink-job';
/** A new value asks for a savepoint of the running job. */
export const SAVEPOINT_ANNOTATION = 'weir.dev/flink-savepoint';
/** "true" lets a spec whose state does not fit the last savepoint start without it. */
export const DISCARD_STATE_ANNOTATION = 'weir.dev/flink-discard-state';

/** The conditions this controller owns in a Pipeline's status. */
export const JOB_CONDITION = 'FlinkJobReady';
export const SAVEPOINT_CONDITION = 'FlinkSavepointReady';

export const FlinkReason = {
  JobRunning: 'JobRunning',
  JobStarting: 'JobStarting',
  JobRestarting: 'JobRestarting',
  JobFailed: 'JobFailed',
  Submitted: 'Submitted',
  SubmitFailed: 'SubmitFailed',
  Upgrading: 'Upgrading',
  UpgradeRefused: 'UpgradeRefused',
  Suspending: 'Suspending',
  Suspended: 'Suspended',
  SavepointInProgress: 'SavepointInProgress',
  SavepointTaken: 'SavepointTaken',
  SavepointFailed: 'SavepointFailed',
  RestoreFailed: 'RestoreFailed',
  WaitingForTopics: 'WaitingForTopics',
  Unsupported: 'Unsupported',
  NoFlinkCluster: 'NoFlinkCluster',
  NoKafkaCredentials: 'NoKafkaCredentials',
  FlinkUnreachable: 'FlinkUnreachable',
  CleanupFailed: 'CleanupFailed',
} as const;

/** The pipeline's one job Flink has not ended. */
export interface LiveJob {
  id: string;
  name: string;
  state: JobState;
  /** Every task runs: only then can a savepoint be taken. */
  allTasksRunning: boolean;
  lastFailure?: string;
  /** For a job that is not running: its checkpoints completed since it started, and the newest one. */
  checkpointsCompleted?: number;
  latestCheckpoint?: string;
}

/** The newest job of the pipeline that ended. */
export interface EndedJob {
  id: string;
  name: string;
  state: JobState;
  lastFailure?: string;
  /** Its newest checkpoint or savepoint: a stopped job's final savepoint, a cancelled job's last checkpoint. */
  latestCheckpoint?: string;
}

export interface JobObservation {
  uid: string;
  desiredPhase: 'Running' | 'Paused';
  topicsReady: boolean;
  translation: Translation;
  flink: FlinkStatus;
  savepointAnnotation?: string;
  discardState: boolean;
  live?: LiveJob;
  ended?: EndedJob;
  /** Where `flink.operation` stands, when one is recorded; Gone when Flink no longer knows its job. */
  operationStatus?: SavepointStatus | { state: 'Gone' };
}

export type JobAction =
  | { kind: 'None' }
  | { kind: 'Submit'; savepoint?: string }
  | { kind: 'StopWithSavepoint'; jobId: string; triggerId: string }
  | { kind: 'TriggerSavepoint'; jobId: string; triggerId: string }
  | { kind: 'Cancel'; jobId: string };

export interface JobPlan {
  action: JobAction;
  /** status.flink after the action; a Submit fills in the job id. */
  flink: FlinkStatus;
  conditions: ConditionUpdate[];
  /** When to look again: jobs change state in Flink without telling Kubernetes. */
  requeueAfterMs: number;
}

/** What Flink says when a savepoint's state does not fit the job restored from it. */
const RESTORE_FAILURE =
  /StateMigrationException|incompatible with the old state serializer|Cannot map (checkpoint\/)?savepoint state/;

/** Polls while something is under way, and now and then while the job runs. */
export const POLL_BUSY_MS = 2_000;
export const POLL_STEADY_MS = 10_000;

/** A 32-hex trigger id that is the same for the same request, so a repeated request is the same savepoint. */
export function triggerId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 32);
}

function job(status: ConditionUpdate['status'], reason: string, message: string): ConditionUpdate {
  return { type: JOB_CONDITION, status, reason, message };
}

function plan(flink: FlinkStatus, condition: ConditionUpdate, requeueAfterMs: number, action?: JobAction): JobPlan {
  return { action: action ?? { kind: 'None' }, flink, conditions: [condition], requeueAfterMs };
}

/** Starts a savepoint operation of the live job. */
function startOperation(
  o: JobObservation,
  flink: FlinkStatus,
  kind: Operation['kind'],
  discriminator: string,
  attempt = 1,
): { action: JobAction; flink: FlinkStatus } {
  const live = o.live!;
  const id = triggerId(o.uid, kind, live.id, discriminator, String(attempt));
  const operation: Operation = { kind, jobId: live.id, triggerId: id, attempt };
  return {
    action:
      kind === 'Savepoint'
        ? { kind: 'TriggerSavepoint', jobId: live.id, triggerId: id }
        : { kind: 'StopWithSavepoint', jobId: live.id, triggerId: id },
    flink: { ...flink, operation },
  };
}

/** The next step for the pipeline's job. */
export function planJob(o: JobObservation): JobPlan {
  let flink: FlinkStatus = { ...o.flink, jobState: o.live?.state ?? o.ended?.state };
  const extra: ConditionUpdate[] = [];
  const op = flink.operation;
  if (op) {
    const st = o.operationStatus ?? { state: 'InProgress' };
    if (st.state === 'InProgress') {
      const reason = {
        Upgrade: FlinkReason.Upgrading,
        Suspend: FlinkReason.Suspending,
        Savepoint: FlinkReason.SavepointInProgress,
      }[op.kind];
      const ready = op.kind === 'Savepoint' && o.live?.allTasksRunning ? 'True' : 'False';
      return plan(
        flink,
        job(ready, reason, `taking a savepoint of job ${op.jobId} (attempt ${op.attempt})`),
        POLL_BUSY_MS,
      );
    }
    const { operation: _, ...rest } = flink;
    flink = rest;
    if (st.state === 'Completed') {
      const taker = [o.live, o.ended].find((j) => j?.id === op.jobId)?.name ?? flink.jobName ?? '';
      flink.lastSavepoint = st.location;
      flink.stateSignature = signatureOfJobName(taker);
      if (op.kind === 'Savepoint') {
        flink.savepointRequest = o.savepointAnnotation;
        extra.push({
          type: SAVEPOINT_CONDITION,
          status: 'True',
          reason: FlinkReason.SavepointTaken,
          message: st.location,
        });
      }
      // The stopped job ends a moment later; the next look submits or reports suspended.
      if (op.kind !== 'Savepoint')
        return plan(
          flink,
          job(
            'False',
            FlinkReason[op.kind === 'Upgrade' ? 'Upgrading' : 'Suspending'],
            `savepoint ${st.location} taken`,
          ),
          500,
        );
    } else if (st.state === 'Failed') {
      if (op.kind === 'Savepoint') {
        flink.savepointRequest = o.savepointAnnotation;
        extra.push({
          type: SAVEPOINT_CONDITION,
          status: 'False',
          reason: FlinkReason.SavepointFailed,
          message: st.reason,
        });
      } else if (o.live?.id === op.jobId && o.live.allTasksRunning) {
        // Stop-with-savepoint that failed leaves the job running: try again, with a new trigger.
        const next = startOperation(o, flink, op.kind, op.kind === 'Upgrade' ? desiredName(o) : '', op.attempt + 1);
        const message = `savepoint of job ${op.jobId} failed (attempt ${op.attempt}): ${st.reason}; trying again`;
        return {
          ...plan(
            next.flink,
            job('False', FlinkReason.SavepointFailed, message),
            Math.min(60_000, 5_000 * op.attempt),
            next.action,
          ),
        };
      }
    }
  }
  const result = planSteady(o, flink);
  return { ...result, conditions: [...result.conditions, ...extra] };
}

function desiredName(o: JobObservation): string {
  return o.translation.ok ? o.translation.job.name : '';
}

/** With no savepoint under way. */
function planSteady(o: JobObservation, flink: FlinkStatus): JobPlan {
  const live = o.live;
  if (o.desiredPhase === 'Paused') {
    if (!live)
      return plan(
        flink,
        job(
          'True',
          FlinkReason.Suspended,
          flink.lastSavepoint ? `suspended; resumes from ${flink.lastSavepoint}` : 'suspended; no job was started',
        ),
        0,
      );
    if (!live.allTasksRunning)
      return plan(
        flink,
        job(
          'False',
          FlinkReason.JobStarting,
          `cannot suspend job ${live.id} with a savepoint while it is ${live.state}`,
        ),
        POLL_BUSY_MS,
      );
    const next = startOperation(o, flink, 'Suspend', '');
    return plan(
      next.flink,
      job('False', FlinkReason.Suspending, `stopping job ${live.id} with a savepoint`),
      POLL_BUSY_MS,
      next.action,
    );
  }
  if (!o.translation.ok) {
    const running = live ? `; job ${live.id} of the previous spec keeps running` : '';
    return plan(flink, job('False', FlinkReason.Unsupported, `${o.translation.message}${running}`), 0);
  }
  const desired = o.translation.job;
  const fits = (signature: string | undefined) => signature === desired.stateSignature || o.discardState;
  const refused = (what: string) =>
    job(
      'False',
      FlinkReason.UpgradeRefused,
      `the new spec changes what the state of the job consists of (window, group keys, measured fields or event time), and Flink cannot restore ${what} into it; revert the change, add a new aggregation instead, or annotate ${DISCARD_STATE_ANNOTATION}=true to start without the state`,
    );
  if (live) {
    if (live.name !== desired.name) {
      if (!live.allTasksRunning) {
        // No savepoint can be taken of it; its newest checkpoint (or else the last savepoint) holds its state.
        const from = live.latestCheckpoint
          ? { what: `its checkpoint ${live.latestCheckpoint}`, signature: signatureOfJobName(live.name) }
          : flink.lastSavepoint
            ? { what: `savepoint ${flink.lastSavepoint}`, signature: flink.stateSignature }
            : undefined;
        if (from && !fits(from.signature)) return plan(flink, refused(from.what), 30_000);
        const message = `job ${live.id} is ${live.state} and cannot take a savepoint; cancelling it to start the new spec from ${from?.what ?? 'nothing'}`;
        return plan(flink, job('False', FlinkReason.Upgrading, message), POLL_BUSY_MS, {
          kind: 'Cancel',
          jobId: live.id,
        });
      }
      if (!fits(signatureOfJobName(live.name))) return plan(flink, refused(`job ${live.id}'s state`), 30_000);
      const next = startOperation(o, flink, 'Upgrade', desired.name);
      const message = `stopping job ${live.id} with a savepoint to upgrade it`;
      return plan(next.flink, job('False', FlinkReason.Upgrading, message), POLL_BUSY_MS, next.action);
    }
    if (o.savepointAnnotation && o.savepointAnnotation !== flink.savepointRequest && live.allTasksRunning) {
      const next = startOperation(o, flink, 'Savepoint', o.savepointAnnotation);
      const message = `taking a savepoint of job ${live.id}`;
      return plan(next.flink, job('True', FlinkReason.SavepointInProgress, message), POLL_BUSY_MS, next.action);
    }
    const steady = { ...flink, jobId: live.id, jobName: live.name };
    if (live.allTasksRunning)
      return plan(steady, job('True', FlinkReason.JobRunning, `job ${live.id} is running`), POLL_STEADY_MS);
    if (live.checkpointsCompleted === 0 && RESTORE_FAILURE.test(live.lastFailure ?? '')) {
      const message = `Flink cannot restore ${flink.lastSavepoint ?? 'the savepoint'} into job ${live.id}: ${live.lastFailure}; the savepoint still holds the state: revert the change to go on from it`;
      return plan(steady, job('False', FlinkReason.RestoreFailed, message), POLL_BUSY_MS);
    }
    const failure = live.lastFailure ? `: ${live.lastFailure}` : '';
    // A job that lost tasks (a TaskManager died, say) stays RUNNING while it waits for slots.
    const recovering = live.state === 'RESTARTING' || live.state === 'FAILING' || live.lastFailure !== undefined;
    const reason = recovering ? FlinkReason.JobRestarting : FlinkReason.JobStarting;
    return plan(steady, job('False', reason, `job ${live.id} is ${live.state}${failure}`), POLL_BUSY_MS);
  }
  if (!o.topicsReady)
    return plan(flink, job('False', FlinkReason.WaitingForTopics, 'waiting for the pipeline topics'), POLL_STEADY_MS);
  const ended = o.ended?.id === flink.jobId ? o.ended : undefined;
  // A job of this very SQL that Flink gave up on fails again the same way: wait for a new spec.
  if (ended?.state === 'FAILED' && ended.name === desired.name) {
    const failure = ended.lastFailure ? `: ${ended.lastFailure}` : '';
    return plan(flink, job('False', FlinkReason.JobFailed, `job ${ended.id} failed${failure}`), 0);
  }
  // What the last job ended with, as Flink remembers it: the final savepoint of a stopped job,
  // the newest checkpoint of a cancelled one (by Weir, to replace it, or behind its back).
  const from =
    (ended?.state === 'CANCELED' || ended?.state === 'FINISHED') && ended.latestCheckpoint
      ? { path: ended.latestCheckpoint, signature: signatureOfJobName(ended.name) }
      : flink.lastSavepoint
        ? { path: flink.lastSavepoint, signature: flink.stateSignature }
        : undefined;
  if (from && !fits(from.signature)) return plan(flink, refused(from.path), 0);
  const savepoint = from && from.signature === desired.stateSignature ? from : undefined;
  // status.flink.lastSavepoint names what the job resumes from, and stateSignature what it holds.
  const next: FlinkStatus = {
    ...flink,
    jobName: desired.name,
    lastSavepoint: savepoint?.path,
    stateSignature: savepoint?.signature,
  };
  const message = savepoint ? `submitting ${desired.name} from ${savepoint.path}` : `submitting ${desired.name}`;
  return plan(next, job('False', FlinkReason.Submitted, message), POLL_BUSY_MS, {
    kind: 'Submit',
    savepoint: savepoint?.path,
  });
}
