/**
 * The Flink JobManager's REST API, the parts Weir uses: the cluster overview, jobs and
 * their state, savepoints (on demand and as part of stop-with-savepoint) and cancel.
 * Savepoint requests carry a trigger id the caller chooses, so a request repeated after a
 * lost answer reports the same savepoint instead of taking a second one.
 */
import { Errors, hasCode } from '../errors/errors.ts';
import { flinkRequest, rootCause, type FlinkEndpoint } from './flink-rest.ts';

/** States of a Flink job (org.apache.flink.api.common.JobStatus). */
export const JobStates = [
  'INITIALIZING',
  'CREATED',
  'RUNNING',
  'FAILING',
  'FAILED',
  'CANCELLING',
  'CANCELED',
  'FINISHED',
  'RESTARTING',
  'SUSPENDED',
  'RECONCILING',
] as const;
export type JobState = (typeof JobStates)[number];

/** States a job never leaves. */
export const TERMINAL_JOB_STATES: readonly JobState[] = ['FAILED', 'CANCELED', 'FINISHED'];

/** One job of the jobs overview. */
export interface JobSummary {
  id: string;
  name: string;
  state: JobState;
  startTime: number;
  endTime?: number;
}

/** One task of a job: its operators' chain, its state and the records it sent on since it started. */
export interface JobVertex {
  name: string;
  status: string;
  recordsOut: number;
}

/** The cluster as the JobManager sees it. */
export interface ClusterOverview {
  taskManagers: number;
  slotsTotal: number;
  slotsAvailable: number;
  flinkVersion: string;
}

/** Where a savepoint operation stands. */
export type SavepointStatus =
  { state: 'InProgress' } | { state: 'Completed'; location: string } | { state: 'Failed'; reason: string };

/** Checkpoint facts of a job: the last completed checkpoint and savepoint, and what it was restored from. */
export interface JobCheckpoints {
  completed: number;
  latestCheckpoint?: string;
  latestSavepoint?: string;
  /** The newer of the two: a job resumed from the older would write again what it wrote since. */
  latestRestorable?: string;
  restoredFrom?: string;
}

interface RawJob {
  jid: string;
  name: string;
  state: JobState;
  'start-time': number;
  'end-time'?: number;
}

function summary(raw: RawJob): JobSummary {
  return {
    id: raw.jid,
    name: raw.name,
    state: raw.state,
    startTime: raw['start-time'],
    endTime: raw['end-time'] !== undefined && raw['end-time'] >= 0 ? raw['end-time'] : undefined,
  };
}

/** A 32-hex trigger id, as Flink's AbstractID prints one. */
const TRIGGER_ID = /^[0-9a-f]{32}$/;

/** Client of one JobManager's REST endpoint. */
export class JobManagerClient {
  readonly #endpoint: FlinkEndpoint;

  constructor(endpoint: FlinkEndpoint) {
    this.#endpoint = endpoint;
  }

  async overview(): Promise<ClusterOverview> {
    const raw = await flinkRequest<Record<string, number | string>>(this.#endpoint, '/overview');
    return {
      taskManagers: Number(raw.taskmanagers),
      slotsTotal: Number(raw['slots-total']),
      slotsAvailable: Number(raw['slots-available']),
      flinkVersion: String(raw['flink-version']),
    };
  }

  /** Every job the cluster knows, running or kept in its history. */
  async jobs(): Promise<JobSummary[]> {
    const raw = await flinkRequest<{ jobs: RawJob[] }>(this.#endpoint, '/jobs/overview');
    return raw.jobs.map(summary);
  }

  /** One job with its tasks; FlinkJobNotFound if the cluster does not know it. */
  async job(id: string): Promise<JobSummary & { vertices: JobVertex[] }> {
    const raw = await flinkRequest<
      RawJob & { vertices?: { name: string; status: string; metrics?: { 'write-records'?: number } }[] }
    >(this.#endpoint, `/jobs/${encodeURIComponent(id)}`, { job: id });
    return {
      ...summary(raw),
      vertices: (raw.vertices ?? []).map((v) => ({
        name: v.name,
        status: v.status,
        recordsOut: v.metrics?.['write-records'] ?? 0,
      })),
    };
  }

  /** The newest failure of a job, as one line, or undefined if it never failed. */
  async lastFailure(id: string): Promise<string | undefined> {
    const raw = await flinkRequest<{ exceptionHistory?: { entries?: { stacktrace?: string }[] } }>(
      this.#endpoint,
      `/jobs/${encodeURIComponent(id)}/exceptions?maxExceptions=1`,
      { job: id },
    );
    const stack = raw.exceptionHistory?.entries?.[0]?.stacktrace;
    return stack ? rootCause([stack]) : undefined;
  }

  async checkpoints(id: string): Promise<JobCheckpoints> {
    const raw = await flinkRequest<{
      counts?: { completed?: number };
      latest?: {
        completed?: { id?: number; external_path?: string } | null;
        savepoint?: { id?: number; external_path?: string } | null;
        restored?: { external_path?: string } | null;
      };
    }>(this.#endpoint, `/jobs/${encodeURIComponent(id)}/checkpoints`, { job: id });
    const checkpoint = raw.latest?.completed ?? undefined;
    const savepoint = raw.latest?.savepoint ?? undefined;
    const newer = (savepoint?.id ?? -1) > (checkpoint?.id ?? -1) ? savepoint : checkpoint;
    return {
      completed: raw.counts?.completed ?? 0,
      latestRestorable: newer?.external_path ?? undefined,
      latestCheckpoint: raw.latest?.completed?.external_path ?? undefined,
      latestSavepoint: raw.latest?.savepoint?.external_path ?? undefined,
      restoredFrom: raw.latest?.restored?.external_path ?? undefined,
    };
  }

  /**
   * Takes a savepoint and stops the job once it is complete (without draining, so windows
   * stay open in the savepoint). Resolves with the trigger id to follow.
   */
  async stopWithSavepoint(id: string, options: { targetDirectory?: string; triggerId?: string } = {}): Promise<string> {
    const raw = await flinkRequest<{ 'request-id': string }>(this.#endpoint, `/jobs/${encodeURIComponent(id)}/stop`, {
      method: 'POST',
      job: id,
      body: {
        targetDirectory: options.targetDirectory,
        drain: false,
        triggerId: checkedTrigger(options.triggerId),
      },
    });
    return raw['request-id'];
  }

  /** Takes a savepoint of a running job, which keeps running. Resolves with the trigger id to follow. */
  async triggerSavepoint(id: string, options: { targetDirectory?: string; triggerId?: string } = {}): Promise<string> {
    const raw = await flinkRequest<{ 'request-id': string }>(
      this.#endpoint,
      `/jobs/${encodeURIComponent(id)}/savepoints`,
      {
        method: 'POST',
        job: id,
        body: {
          'target-directory': options.targetDirectory,
          'cancel-job': false,
          triggerId: checkedTrigger(options.triggerId),
        },
      },
    );
    return raw['request-id'];
  }

  /** Where a savepoint (or stop-with-savepoint) operation stands. */
  async savepointStatus(id: string, triggerId: string): Promise<SavepointStatus> {
    const raw = await flinkRequest<{
      status: { id: 'IN_PROGRESS' | 'COMPLETED' };
      operation?: { location?: string; 'failure-cause'?: { 'stack-trace'?: string; class?: string } };
    }>(this.#endpoint, `/jobs/${encodeURIComponent(id)}/savepoints/${encodeURIComponent(triggerId)}`, { job: id });
    if (raw.status.id !== 'COMPLETED') return { state: 'InProgress' };
    if (raw.operation?.location) return { state: 'Completed', location: raw.operation.location };
    const failure = raw.operation?.['failure-cause'];
    return {
      state: 'Failed',
      reason: failure?.['stack-trace'] ? rootCause([failure['stack-trace']]) : (failure?.class ?? 'unknown failure'),
    };
  }

  /** Cancels a job; one that already ended is fine (Flink answers 409 for it). */
  async cancel(id: string): Promise<void> {
    try {
      await flinkRequest(this.#endpoint, `/jobs/${encodeURIComponent(id)}?mode=cancel`, { method: 'PATCH', job: id });
    } catch (err) {
      if (!hasCode(err, Errors.FlinkRequestFailed) || err.details?.status !== 409) throw err;
    }
  }
}

function checkedTrigger(triggerId: string | undefined): string | undefined {
  if (triggerId !== undefined && !TRIGGER_ID.test(triggerId))
    throw new Error(`a savepoint trigger id must be 32 lower-case hex digits, got '${triggerId}'`);
  return triggerId;
}
