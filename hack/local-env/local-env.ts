/**
 * The local environment: real etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, Kafka, Redis, PostgreSQL and (only when asked for) a Flink session cluster
 * started as local processes on free loopback ports with temporary data directories, plus the process node that runs Weir's pods in
 * place of a kubelet; torn down on exit, failure and Ctrl-C.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { COMPONENT_NAMES, type Component, type ComponentContext, type ComponentName } from './component.ts';
import { Etcd } from './etcd.ts';
import { FlinkCluster, FlinkJobManager, FlinkSqlGateway, FlinkTaskManager } from './flink.ts';
import { Kafka } from './kafka.ts';
import { KubeApiserver } from './kube-apiserver.ts';
import { KubeControllerManager, KubeScheduler } from './kube-controllers.ts';
import { alive, signalGroup } from './managed-process.ts';
import { Postgres } from './postgres.ts';
import { ProcessNode } from './process-node/local-env-component.ts';
import { Redis } from './redis.ts';
import { ensureBuilt, toolchain, type BuildTarget } from './toolchain.ts';

/** Names accepted wherever components are chosen, besides the component names themselves. */
export const COMPONENT_GROUPS: Record<string, readonly ComponentName[]> = {
  kube: ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
  'kube-api': ['etcd', 'kube-apiserver'],
  all: COMPONENT_NAMES.filter((n) => !n.startsWith('flink-')),
  // Flink is heavy (three JVMs): it runs only where asked for, never as part of all.
  flink: ['flink-jobmanager', 'flink-taskmanager', 'flink-sql-gateway'],
};

/** Expands groups, adds dependencies and orders the result so dependencies come first. */
export function resolveComponents(requested: readonly string[]): ComponentName[] {
  const wanted = new Set<ComponentName>();
  for (const name of requested) {
    const group = COMPONENT_GROUPS[name];
    if (group) group.forEach((n) => wanted.add(n));
    else if ((COMPONENT_NAMES as readonly string[]).includes(name)) wanted.add(name as ComponentName);
    else
      throw new Error(
        `unknown component '${name}'; choose from ${[...Object.keys(COMPONENT_GROUPS), ...COMPONENT_NAMES].join(', ')}`,
      );
  }
  // Pods reach the process node through ReplicaSets and the scheduler.
  if (wanted.has('process-node'))
    ['kube-controller-manager', 'kube-scheduler'].forEach((n) => wanted.add(n as ComponentName));
  if (wanted.has('kube-controller-manager') || wanted.has('kube-scheduler')) wanted.add('kube-apiserver');
  if (wanted.has('kube-apiserver')) wanted.add('etcd');
  if (wanted.has('flink-taskmanager') || wanted.has('flink-sql-gateway')) wanted.add('flink-jobmanager');
  return COMPONENT_NAMES.filter((n) => wanted.has(n));
}

const ENV_PREFIX = 'weir-env-';

/**
 * Kills the processes and removes the directories of environments whose owning process
 * died without tearing them down (for example after SIGKILL).
 */
export function reapStaleEnvironments(log: (m: string) => void = () => undefined): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(ENV_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8'));
    } catch {
      continue;
    }
    if (alive(owner)) continue;
    let pids: number[] = [];
    try {
      pids = readFileSync(join(dir, 'pids'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      // No process was ever started there.
    }
    for (const pid of pids) signalGroup(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    log(`reaped an environment left behind by process ${owner} (${pids.length} processes)`);
  }
}

export interface LocalEnvOptions {
  /** Components or groups (kube, kube-api, all) to run. */
  components: readonly string[];
  log?: (message: string) => void;
  /** Keep the data directory after teardown, for debugging. */
  keepDir?: boolean;
}

/** A running local environment. */
export class LocalEnv {
  readonly dir: string;
  readonly components: Map<ComponentName, Component>;
  readonly #order: ComponentName[];
  readonly #log: (message: string) => void;
  readonly #keepDir: boolean;
  #tornDown = false;
  readonly #onExit = () => this.#killNow();

  private constructor(
    dir: string,
    order: ComponentName[],
    components: Map<ComponentName, Component>,
    options: LocalEnvOptions,
  ) {
    this.dir = dir;
    this.#order = order;
    this.components = components;
    this.#log = options.log ?? (() => undefined);
    this.#keepDir = options.keepDir ?? false;
    process.once('exit', this.#onExit);
  }

  /** Builds what is missing, then starts the components in dependency order. */
  static async start(options: LocalEnvOptions): Promise<LocalEnv> {
    const log = options.log ?? (() => undefined);
    const order = resolveComponents(options.components);
    reapStaleEnvironments(log);
    const tools = toolchain();
    const dir = mkdtempSync(join(tmpdir(), ENV_PREFIX));
    writeFileSync(join(dir, 'owner'), String(process.pid));
    const ctx: ComponentContext = { dir, pidFile: join(dir, 'pids'), tools, log };
    const components = new Map<ComponentName, Component>();
    const etcd = new Etcd(ctx);
    const apiserver = new KubeApiserver(ctx, etcd);
    const flink = new FlinkCluster(ctx);
    const all: Record<ComponentName, () => Component> = {
      etcd: () => etcd,
      'kube-apiserver': () => apiserver,
      'kube-controller-manager': () => new KubeControllerManager(ctx, apiserver),
      'kube-scheduler': () => new KubeScheduler(ctx, apiserver),
      kafka: () => new Kafka(ctx),
      redis: () => new Redis(ctx),
      postgres: () => new Postgres(ctx),
      'flink-jobmanager': () => new FlinkJobManager(ctx, flink),
      'flink-taskmanager': () => new FlinkTaskManager(ctx, flink),
      'flink-sql-gateway': () => new FlinkSqlGateway(ctx, flink),
      'process-node': () => new ProcessNode(ctx, apiserver),
    };
    for (const name of order) components.set(name, all[name]());
    const env = new LocalEnv(dir, order, components, options);
    try {
      const targets = new Set<BuildTarget>();
      for (const c of components.values()) c.build.forEach((t) => targets.add(t));
      await ensureBuilt([...targets]);
      for (const name of order) {
        const started = Date.now();
        const component = components.get(name)!;
        await component.prepare();
        await component.start();
        log(`${name} ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      }
    } catch (err) {
      await env.teardown({ keepDir: true });
      throw new Error(`the local environment did not start (logs in ${dir}): ${(err as Error).message}`);
    }
    return env;
  }

  #component(name: string): Component {
    const component = this.components.get(name as ComponentName);
    if (!component)
      throw new Error(`component '${name}' is not part of this environment (it runs ${this.#order.join(', ')})`);
    return component;
  }

  /** Stops one component, for fault injection; its data and port are kept. */
  async stopComponent(name: string): Promise<void> {
    await this.#component(name).stop();
    this.#log(`${name} stopped`);
  }

  /** Starts a stopped component again on the same port with the same data. */
  async startComponent(name: string): Promise<void> {
    const component = this.#component(name);
    if (component.running) return;
    await component.start();
    this.#log(`${name} started`);
  }

  async restartComponent(name: string): Promise<void> {
    await this.stopComponent(name);
    await this.startComponent(name);
  }

  /** Which components are running now. */
  status(): Record<string, 'running' | 'stopped'> {
    return Object.fromEntries(this.#order.map((n) => [n, this.components.get(n)!.running ? 'running' : 'stopped']));
  }

  /** Variables that point clients at the environment: KUBECONFIG, WEIR_KAFKA_BROKERS, WEIR_REDIS_URL, WEIR_POSTGRES_URL, and PATH with kubectl and helm. */
  env(): Record<string, string> {
    const tools = toolchain();
    const out: Record<string, string> = { WEIR_LOCAL_ENV_DIR: this.dir };
    for (const c of this.components.values()) Object.assign(out, c.env());
    out.PATH = [dirname(tools.kubectl), dirname(tools.helm), process.env.PATH ?? ''].join(':');
    return out;
  }

  /** Stops every component, dependents first, and removes the data directory. */
  async teardown(options: { keepDir?: boolean } = {}): Promise<void> {
    if (this.#tornDown) return;
    this.#tornDown = true;
    for (const name of [...this.#order].reverse()) {
      await this.components
        .get(name)!
        .stop()
        .catch((err: Error) => this.#log(`stopping ${name} failed: ${err.message}`));
    }
    this.#killNow();
    process.removeListener('exit', this.#onExit);
    if (!(options.keepDir ?? this.#keepDir)) rmSync(this.dir, { recursive: true, force: true });
  }

  #killNow(): void {
    for (const c of this.components.values()) c.killNow();
    if (!this.#tornDown && !this.#keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
