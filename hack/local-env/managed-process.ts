/**
 * A server the local environment runs: spawned in its own process group so that a stop
 * takes its children too, logging to a file, and recorded in the environment's pid file
 * so that a later run can reap it if this one is killed outright.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  logFile: string;
  /** Signal that asks the server to shut down cleanly; SIGTERM unless the server wants another. */
  stopSignal?: NodeJS.Signals;
  /** How long a stop waits for a clean exit before SIGKILL; 10 s unless the server wants another. */
  stopGraceMs?: number;
  /** File that lists the pids of every process of the environment, one a line. */
  pidFile: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running server process. */
export class ManagedProcess {
  readonly spec: ProcessSpec;
  #child: ChildProcess | undefined;
  #exited: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null });
  #running = false;

  constructor(spec: ProcessSpec) {
    this.spec = spec;
  }

  get running(): boolean {
    return this.#running;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<ExitStatus> {
    return this.#exited;
  }

  start(): void {
    if (this.#running) throw new Error(`${this.spec.name} is already running`);
    const log = openSync(this.spec.logFile, 'a');
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: this.spec.env ?? process.env,
      uid: this.spec.uid,
      gid: this.spec.gid,
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.#child = child;
    this.#running = true;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#running = false;
        resolve({ code, signal });
      });
      child.once('error', (err) => {
        this.#running = false;
        appendFileSync(this.spec.logFile, `\nspawn failed: ${err.message}\n`);
        resolve({ code: null, signal: null });
      });
    });
    if (child.pid) appendFileSync(this.spec.pidFile, `${child.pid}\n`);
  }

  /** Stops the whole process group: the stop signal, then SIGKILL after the grace period. */
  async stop(graceMs = this.spec.stopGraceMs ?? 10_000): Promise<void> {
    const pid = this.#child?.pid;
    if (!this.#running || pid === undefined) return;
    signalGroup(pid, this.spec.stopSignal ?? 'SIGTERM');
    const done = await Promise.race([this.#exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      signalGroup(pid, 'SIGKILL');
      await this.#exited;
    }
    // Children that ignored SIGTERM must not outlive their leader.
    signalGroup(pid, 'SIGKILL');
  }

  /** Kills the process group at once; safe to call from a synchronous exit handler. */
  killNow(): void {
    const pid = this.#child?.pid;
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  }

  /** The last lines of the log, for error messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.spec.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** Sends a signal to a process group, ignoring groups that are already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Polls `check` until it returns true. Fails with the process's log tail if the process
 * exits first or the time runs out.
 */
export async function waitUntil(
  proc: ManagedProcess,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!proc.running) {
      const status = await proc.exited;
      throw new Error(
        `${proc.spec.name} exited (${status.signal ?? `code ${status.code}`}) before it was ${what}; log ${proc.spec.logFile}:\n${proc.logTail()}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(
    `${proc.spec.name} was not ${what} within ${timeoutMs / 1000}s${lastError ? ` (last error: ${lastError})` : ''}; log ${proc.spec.logFile}:\n${proc.logTail()}`,
  );
}

/** Whether a process with this pid exists (one owned by another user counts). */
export function alive(pid: number): boolean {
  // kill(0) would signal our own process group and look alive.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
