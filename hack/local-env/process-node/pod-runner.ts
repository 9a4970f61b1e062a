/**
 * Runs one pod as local processes, as a kubelet runs it in containers: writes its volumes,
 * starts each container as a process group of its own, probes it (startup, then readiness
 * and liveness), restarts exited containers according to restartPolicy with the kubelet's
 * crash-loop back-off, and on termination sends SIGTERM, waits the grace period and sends
 * SIGKILL. It only keeps state: the agent turns {@link PodRunner.view} into the pod's status.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../../lib/clock/clock.ts';
import { ManagedProcess, type ExitStatus } from '../managed-process.ts';
import { podField } from './container-env.ts';
import { containerLaunch, type LaunchContext } from './container-launch.ts';
import { runProbe, type ProbeTarget } from './probe-check.ts';
import { ProbeWorker, type ProbeKind } from './probe-worker.ts';
import { ContainerConfigError, type PodSources } from './pod-sources.ts';
import {
  rfc3339,
  type ContainerState,
  type ContainerView,
  type PodView,
  type RestartPolicy,
  type TerminatedState,
} from './pod-status.ts';
import { crashLoopMessage, RestartBackoff } from './restart-backoff.ts';
import { volumeContent, writeVolume } from './volumes.ts';

/** How long a container that cannot be configured (a missing ConfigMap, say) waits before the next try. */
const CONFIG_RETRY_MS = 5_000;

/** Options for {@link PodRunner}. */
export interface PodRunnerOptions {
  pod: V1Pod;
  podIP: string;
  hostIP: string;
  /** The pod's own directory: its volumes live here. */
  podDir: string;
  /** Where container logs go: `<logDir>/<container>/<restartCount>.log`, as in /var/log/pods. */
  logDir: string;
  repoRoot: string;
  /** Where containers reach the API server (KUBERNETES_SERVICE_HOST and _PORT). */
  apiServer?: LaunchContext['apiServer'];
  /** The environment's pid file, so that its reaper kills containers an agent left behind. */
  pidFile: string;
  /** Fetches the ConfigMaps and Secrets the pod refers to. */
  sources: () => Promise<PodSources>;
  /** Restart counts of containers that ran before the agent restarted. */
  restartCounts?: Map<string, number>;
  agentUid: number;
  clock: Clock;
  log: Logger;
  /** Called when anything the pod's status shows has changed. */
  onChange: () => void;
  /** Called with the pid of every container process started. */
  onSpawn?: (pid: number) => void;
}

/** One container of the pod and where it stands. */
interface ContainerRun {
  spec: V1Container;
  state: ContainerState;
  lastState?: TerminatedState;
  restartCount: number;
  /** True once the first instance was started (restarts count from there). */
  everStarted: boolean;
  started: boolean;
  ready: boolean;
  containerID?: string;
  proc?: ManagedProcess;
  /** Distinguishes the instances of a container, so a late exit of an old one is ignored. */
  instance: number;
  startedAtMs: number;
  probes: ProbeWorker[];
  /** What the probes of the running instance check. */
  probeTarget?: ProbeTarget;
  backoff: RestartBackoff;
  timer?: TimerHandle;
  /** Why the node killed the running instance, for its terminated state. */
  killedBecause?: string;
}

/** Runs the containers of one pod. */
export class PodRunner {
  readonly uid: string;
  readonly podIP: string;
  #o: PodRunnerOptions;
  #pod: V1Pod;
  #runs: ContainerRun[];
  #sandboxReady = false;
  #startTime: string;
  #terminating: Promise<void> | undefined;
  #terminal = false;
  #setupTimer: TimerHandle | undefined;

  constructor(options: PodRunnerOptions) {
    this.#o = options;
    this.#pod = options.pod;
    this.uid = options.pod.metadata!.uid!;
    this.podIP = options.podIP;
    this.#startTime = rfc3339(options.clock.now());
    this.#runs = (options.pod.spec?.containers ?? []).map((spec) => {
      const previous = options.restartCounts?.get(spec.name);
      return {
        spec,
        state: { kind: 'waiting', reason: 'ContainerCreating' },
        restartCount: previous ?? 0,
        everStarted: previous !== undefined,
        started: false,
        ready: false,
        instance: 0,
        startedAtMs: 0,
        probes: [],
        backoff: new RestartBackoff(),
      };
    });
  }

  /** `namespace/name (uid)`, for logs. */
  get name(): string {
    return `${this.#pod.metadata?.namespace}/${this.#pod.metadata?.name}`;
  }

  get terminating(): boolean {
    return this.#terminating !== undefined;
  }

  /** True once a terminated pod's containers have all stopped. */
  get terminal(): boolean {
    return this.#terminal;
  }

  /** Keeps the newest version of the pod (for the downward API and the grace period). */
  update(pod: V1Pod): void {
    if (pod.metadata?.uid === this.uid) this.#pod = pod;
  }

  /** Writes the volumes and starts the containers; retries setup until it succeeds or the pod terminates. */
  start(): void {
    void this.#setUp();
  }

  /** What the pod's status is built from. */
  view(): PodView {
    const containers: ContainerView[] = this.#runs.map((r) => ({
      name: r.spec.name,
      image: r.spec.image ?? '',
      containerID: r.containerID,
      state: r.state,
      lastState: r.lastState,
      ready: r.ready,
      started: r.started,
      restartCount: r.restartCount,
    }));
    return {
      containers,
      restartPolicy: (this.#pod.spec?.restartPolicy ?? 'Always') as RestartPolicy,
      hostIP: this.#o.hostIP,
      podIP: this.podIP,
      startTime: this.#startTime,
      sandboxReady: this.#sandboxReady,
      terminal: this.#terminal,
    };
  }

  /**
   * Stops every container: SIGTERM to its process group, SIGKILL after `graceMs`. No
   * container starts again. Resolves once all have exited; calling it again returns the
   * same promise.
   */
  terminate(graceMs: number): Promise<void> {
    this.#terminating ??= this.#terminate(graceMs);
    return this.#terminating;
  }

  async #terminate(graceMs: number): Promise<void> {
    if (this.#setupTimer) this.#o.clock.clearTimeout(this.#setupTimer);
    this.#o.log.info({ pod: this.name, graceSeconds: graceMs / 1000 }, 'stopping the pod');
    await Promise.all(
      this.#runs.map(async (run) => {
        if (run.timer) this.#o.clock.clearTimeout(run.timer);
        await this.#stopProbes(run);
        if (run.proc?.running) {
          const exited = run.proc.exited;
          await run.proc.stop(graceMs);
          await exited;
        }
      }),
    );
    // Exit handlers run on the same `exited` promises; let them record the last states.
    await new Promise((resolve) => setImmediate(resolve));
    this.#terminal = true;
    rmSync(join(this.#o.podDir, 'volumes'), { recursive: true, force: true });
    this.#o.onChange();
  }

  async #setUp(): Promise<void> {
    if (this.#terminating) return;
    try {
      const sources = await this.#o.sources();
      mkdirSync(this.#o.podDir, { recursive: true, mode: 0o755 });
      if (this.#terminating) return;
      const field = (path: string) => podField(this.#pod, path, { podIP: this.podIP, hostIP: this.#o.hostIP });
      for (const volume of this.#pod.spec?.volumes ?? [])
        writeVolume(this.#volumeDir(volume.name), volumeContent(volume, sources, field));
    } catch (err) {
      const message =
        err instanceof ContainerConfigError ? err.message : `preparing the pod failed: ${(err as Error).message}`;
      for (const run of this.#runs)
        this.#set(run, { state: { kind: 'waiting', reason: 'ContainerCreating', message } });
      this.#o.log.warn({ pod: this.name, problem: message }, 'pod not ready to start; retrying');
      this.#setupTimer = this.#o.clock.setTimeout(() => void this.#setUp(), CONFIG_RETRY_MS);
      return;
    }
    this.#sandboxReady = true;
    this.#o.onChange();
    await Promise.all(this.#runs.map((run) => this.#startContainer(run)));
  }

  #volumeDir(name: string): string {
    return join(this.#o.podDir, 'volumes', name);
  }

  /** Starts a new instance of the container, or says why it cannot and tries again later. */
  async #startContainer(run: ContainerRun): Promise<void> {
    run.timer = undefined;
    if (this.#terminating) return;
    let launch;
    try {
      const sources = await this.#o.sources();
      const volumeDirs = new Map((this.#pod.spec?.volumes ?? []).map((v) => [v.name, this.#volumeDir(v.name)]));
      launch = containerLaunch(this.#pod, run.spec, sources, {
        podIP: this.podIP,
        hostIP: this.#o.hostIP,
        repoRoot: this.#o.repoRoot,
        volumeDirs,
        agentUid: this.#o.agentUid,
        apiServer: this.#o.apiServer,
      });
    } catch (err) {
      const reason = err instanceof ContainerConfigError ? err.reason : 'CreateContainerConfigError';
      this.#set(run, {
        state: { kind: 'waiting', reason, message: (err as Error).message },
        ready: false,
        started: false,
      });
      this.#o.log.warn(
        { pod: this.name, container: run.spec.name, reason, problem: (err as Error).message },
        'cannot start the container; retrying',
      );
      run.timer = this.#o.clock.setTimeout(() => void this.#startContainer(run), CONFIG_RETRY_MS);
      return;
    }
    if (this.#terminating) return;
    if (run.everStarted) run.restartCount++;
    run.everStarted = true;
    const logDir = join(this.#o.logDir, run.spec.name);
    mkdirSync(logDir, { recursive: true });
    const proc = new ManagedProcess({
      name: `${this.name}/${run.spec.name}`,
      command: launch.command,
      args: launch.args,
      env: launch.env,
      cwd: launch.cwd,
      uid: launch.uid,
      gid: launch.gid,
      logFile: join(logDir, `${run.restartCount}.log`),
      pidFile: this.#o.pidFile,
    });
    proc.start();
    const instance = ++run.instance;
    run.proc = proc;
    run.startedAtMs = this.#o.clock.now();
    run.killedBecause = undefined;
    if (proc.pid) this.#o.onSpawn?.(proc.pid);
    const hasStartup = run.spec.startupProbe !== undefined;
    this.#set(run, {
      state: { kind: 'running', startedAt: rfc3339(run.startedAtMs) },
      containerID: `process://${proc.pid ?? 0}`,
      started: !hasStartup,
      ready: !hasStartup && run.spec.readinessProbe === undefined,
    });
    this.#o.log.info(
      {
        pod: this.name,
        container: run.spec.name,
        pid: proc.pid,
        restartCount: run.restartCount,
        command: [launch.command, ...launch.args],
      },
      'started container',
    );
    void proc.exited.then((status) => this.#onExit(run, instance, status));
    run.probeTarget = {
      podIP: this.podIP,
      container: run.spec,
      exec: { env: launch.env, cwd: launch.cwd, uid: launch.uid, gid: launch.gid },
    };
    if (hasStartup) this.#startProbe(run, instance, 'startup');
    else this.#startMainProbes(run, instance);
  }

  #startMainProbes(run: ContainerRun, instance: number): void {
    if (run.spec.readinessProbe) this.#startProbe(run, instance, 'readiness');
    if (run.spec.livenessProbe) this.#startProbe(run, instance, 'liveness');
  }

  #startProbe(run: ContainerRun, instance: number, kind: ProbeKind): void {
    const probe = (
      kind === 'startup'
        ? run.spec.startupProbe
        : kind === 'readiness'
          ? run.spec.readinessProbe
          : run.spec.livenessProbe
    )!;
    const target = run.probeTarget!;
    const worker = new ProbeWorker({
      kind,
      probe,
      clock: this.#o.clock,
      check: () => runProbe(probe, target),
      onChange: (ok, outcome) => this.#onProbe(run, instance, kind, ok, outcome.message),
    });
    run.probes.push(worker);
    worker.start();
  }

  #onProbe(run: ContainerRun, instance: number, kind: ProbeKind, ok: boolean, message: string | undefined): void {
    if (instance !== run.instance || this.#terminating || run.state.kind !== 'running') return;
    if (kind === 'readiness') {
      this.#o.log.info(
        { pod: this.name, container: run.spec.name, ready: ok, problem: ok ? undefined : message },
        ok ? 'container is ready' : 'container is not ready',
      );
      this.#set(run, { ready: ok });
      return;
    }
    if (kind === 'startup' && ok) {
      const startup = run.probes.find((p) => p.kind === 'startup');
      void startup?.stop();
      run.probes = run.probes.filter((p) => p !== startup);
      this.#set(run, { started: true, ready: run.spec.readinessProbe === undefined });
      this.#startMainProbes(run, instance);
      return;
    }
    if (ok) return;
    // A failed liveness or startup probe: kill the container; its exit restarts it per restartPolicy.
    const probe = kind === 'liveness' ? run.spec.livenessProbe : run.spec.startupProbe;
    const graceMs =
      (probe?.terminationGracePeriodSeconds ?? this.#pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    run.killedBecause = `Container ${run.spec.name} failed ${kind} probe, will be restarted${message ? `: ${message}` : ''}`;
    this.#o.log.warn(
      { pod: this.name, container: run.spec.name, problem: message },
      `${kind} probe failed; killing the container`,
    );
    this.#set(run, { ready: false });
    void run.proc?.stop(graceMs);
  }

  async #onExit(run: ContainerRun, instance: number, status: ExitStatus): Promise<void> {
    if (instance !== run.instance) return;
    await this.#stopProbes(run);
    const now = this.#o.clock.now();
    const signo = status.signal ? constants.signals[status.signal] : undefined;
    const spawnFailed = status.code === null && status.signal === null;
    const exitCode = status.code ?? (signo !== undefined ? 128 + signo : 128);
    const terminated: TerminatedState = {
      kind: 'terminated',
      exitCode,
      ...(signo !== undefined ? { signal: signo } : {}),
      reason: spawnFailed ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error',
      message: spawnFailed ? run.proc?.logTail(1) : run.killedBecause,
      startedAt: rfc3339(run.startedAtMs),
      finishedAt: rfc3339(now),
      containerID: run.containerID,
    };
    this.#o.log.info(
      { pod: this.name, container: run.spec.name, exitCode, signal: status.signal ?? undefined },
      'container exited',
    );
    const policy = this.#pod.spec?.restartPolicy ?? 'Always';
    const restart = !this.#terminating && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0));
    if (!restart) {
      this.#set(run, { state: terminated, ready: false, started: false });
      return;
    }
    const delay = run.backoff.next(now - run.startedAtMs);
    run.lastState = terminated;
    if (delay === 0) {
      void this.#startContainer(run);
      return;
    }
    const pod = { name: this.#pod.metadata?.name ?? '', namespace: this.#pod.metadata?.namespace ?? '', uid: this.uid };
    this.#set(run, {
      state: { kind: 'waiting', reason: 'CrashLoopBackOff', message: crashLoopMessage(delay, run.spec.name, pod) },
      ready: false,
      started: false,
    });
    run.timer = this.#o.clock.setTimeout(() => void this.#startContainer(run), delay);
  }

  async #stopProbes(run: ContainerRun): Promise<void> {
    const probes = run.probes;
    run.probes = [];
    await Promise.all(probes.map((p) => p.stop()));
  }

  #set(run: ContainerRun, change: Partial<Pick<ContainerRun, 'state' | 'ready' | 'started' | 'containerID'>>): void {
    Object.assign(run, change);
    this.#o.onChange();
  }
}
