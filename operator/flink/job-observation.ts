/**
 * What Flink says about a pipeline's jobs: they are found by name (every job of the
 * pipeline is named `weir/<namespace>/<name>@<hash>`), so a job submitted by a reconcile
 * whose status write was lost is still found, never submitted twice.
 */
import { Errors, hasCode } from '../../lib/errors/errors.ts';
import { TERMINAL_JOB_STATES, type JobManagerClient, type JobSummary } from '../../lib/flink/job-manager-client.ts';
import { jobNamePrefix } from './flink-sql.ts';
import { JOB_CONDITION, SAVEPOINT_CONDITION, type FlinkStatus, type JobObservation } from './job-plan.ts';

/** Condition types the Flink controller owns in a Pipeline's status. */
export const FLINK_CONDITIONS: readonly string[] = [JOB_CONDITION, SAVEPOINT_CONDITION];

/** The pipeline's live job, its newest ended one, and where a recorded savepoint stands. */
export async function observeJobs(
  jobManager: JobManagerClient,
  namespace: string,
  name: string,
  flink: FlinkStatus,
): Promise<Pick<JobObservation, 'live' | 'ended' | 'operationStatus'>> {
  const prefix = jobNamePrefix(namespace, name);
  const ours = (await jobManager.jobs())
    .filter((j) => j.name.startsWith(prefix))
    .sort((a, b) => b.startTime - a.startTime);
  const live = ours.filter((j) => !TERMINAL_JOB_STATES.includes(j.state));
  // Only one job may write a pipeline's output: an older one left running is cancelled.
  for (const extra of live.slice(1)) await jobManager.cancel(extra.id);
  const out: Pick<JobObservation, 'live' | 'ended' | 'operationStatus'> = {};
  if (live[0]) {
    const details = await jobManager.job(live[0].id);
    const allTasksRunning = details.state === 'RUNNING' && details.vertices.every((v) => v.status === 'RUNNING');
    out.live = { ...pick(live[0]), allTasksRunning };
    if (!allTasksRunning) {
      const checkpoints = await jobManager.checkpoints(live[0].id);
      out.live.lastFailure = await jobManager.lastFailure(live[0].id);
      out.live.checkpointsCompleted = checkpoints.completed;
      out.live.latestCheckpoint = checkpoints.latestRestorable;
    }
  }
  const ended = ours.find((j) => TERMINAL_JOB_STATES.includes(j.state));
  if (ended) {
    out.ended = pick(ended);
    if (ended.state === 'FAILED') out.ended.lastFailure = await jobManager.lastFailure(ended.id);
    // What the job ended with, as Flink remembers it, which the status may not show yet.
    if (ended.state !== 'FAILED')
      out.ended.latestCheckpoint = (await jobManager.checkpoints(ended.id)).latestRestorable;
  }
  if (flink.operation) {
    try {
      out.operationStatus = await jobManager.savepointStatus(flink.operation.jobId, flink.operation.triggerId);
    } catch (err) {
      if (!hasCode(err, Errors.FlinkJobNotFound)) throw err;
      out.operationStatus = { state: 'Gone' };
    }
  }
  return out;
}

function pick(j: JobSummary) {
  return { id: j.id, name: j.name, state: j.state };
}
