/**
 * The process node as a component of the local environment: the agent runs as a managed
 * process like the other servers (log `process-node.log`, recorded in the pid file), and
 * the containers it starts, each in a process group of its own, are recorded in the
 * environment's pid file too, so that the reaper kills them if everything else was
 * SIGKILLed. Stopping the component stops the agent, which stops its pods; whatever
 * container is left is killed.
 */
import { randomInt } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ComponentContext } from '../component.ts';
import { httpsGet } from '../https-probe.ts';
import type { KubeApiserver } from '../kube-apiserver.ts';
import { ManagedProcess, signalGroup, waitUntil } from '../managed-process.ts';
import { ProcessComponent } from '../process-component.ts';

export class ProcessNode extends ProcessComponent {
  readonly name = 'process-node';
  readonly dependsOn = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
  readonly build = [] as const;
  readonly nodeName = 'weir-process-node';
  #apiserver: KubeApiserver;
  rootDir = '';
  /** Pod IPs come from here: a /16 of 127.0.0.0/8 chosen at random, so that environments side by side rarely meet. */
  podCidr = '';

  constructor(ctx: ComponentContext, apiserver: KubeApiserver) {
    super(ctx);
    this.#apiserver = apiserver;
  }

  get #containerPidFile(): string {
    return join(this.rootDir, 'container-pids');
  }

  async prepare(): Promise<void> {
    this.rootDir = join(this.ctx.dir, 'process-node');
    mkdirSync(this.rootDir, { recursive: true });
    writeFileSync(this.#containerPidFile, '');
    if (process.getuid?.() === 0) {
      // Containers run as their pod's non-root user and must reach their volumes inside the private environment directory.
      chmodSync(this.ctx.dir, 0o711);
      chmodSync(this.rootDir, 0o711);
    }
    this.podCidr = `127.${randomInt(64, 255)}.0.0/16`;
    this.proc = new ManagedProcess({
      name: this.name,
      command: process.execPath,
      args: [
        join(import.meta.dirname, 'main.ts'),
        `--node-name=${this.nodeName}`,
        `--pod-cidr=${this.podCidr}`,
        `--root-dir=${this.rootDir}`,
        `--pid-file=${this.ctx.pidFile}`,
      ],
      env: { ...process.env, KUBECONFIG: this.#apiserver.kubeconfigPath },
      // The agent gives its pods 5 s to stop.
      stopGraceMs: 15_000,
      logFile: join(this.ctx.dir, 'process-node.log'),
      pidFile: this.ctx.pidFile,
    });
  }

  async start(): Promise<void> {
    // Containers of an agent that was killed outright would hold their pods' addresses.
    this.#killContainers();
    const proc = this.proc!;
    proc.start();
    const ca = readFileSync(this.#apiserver.caFile, 'utf8');
    await waitUntil(
      proc,
      'registered and Ready',
      async () => {
        const res = await httpsGet(`${this.#apiserver.url}/api/v1/nodes/${this.nodeName}`, {
          ca,
          token: this.#apiserver.token,
        });
        if (res.status !== 200) return false;
        const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
      60_000,
    );
  }

  override async stop(): Promise<void> {
    await super.stop();
    this.#killContainers();
  }

  override killNow(): void {
    super.killNow();
    this.#killContainers();
  }

  /** Kills the process group of every container the agent started; those already gone are skipped. */
  #killContainers(): void {
    let pids: number[];
    try {
      pids = readFileSync(this.#containerPidFile, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return;
    }
    for (const pid of pids) if (Number.isInteger(pid) && pid > 0) signalGroup(pid, 'SIGKILL');
    writeFileSync(this.#containerPidFile, '');
  }

  env(): Record<string, string> {
    return { WEIR_PROCESS_NODE: this.nodeName, WEIR_PROCESS_NODE_LOG_DIR: join(this.rootDir, 'logs') };
  }
}
