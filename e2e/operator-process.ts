/** Runs Weir's operator as a separate process for e2e tests, the way a pod would run it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { root } from './cluster.ts';

/** One running operator replica. */
export class OperatorProcess {
  readonly identity: string;
  readonly logs: Record<string, unknown>[] = [];
  #child: ChildProcess;
  #exited: Promise<number | null>;
  readonly healthPort: number;

  /** Starts a replica; `healthPort` must be free (see freePort in hack/local-env/ports.ts). */
  constructor(
    identity: string,
    options: { kubeconfig: string; namespace: string; healthPort: number; args?: string[]; nodeOptions?: string[] },
  ) {
    this.identity = identity;
    this.healthPort = options.healthPort;
    const args = [
      `--identity=${identity}`,
      `--health-port=${options.healthPort}`,
      `--leader-election-namespace=${options.namespace}`,
      ...(options.args ?? []),
    ];
    this.#child = spawn(
      process.execPath,
      [...(options.nodeOptions ?? []), join(root, 'operator', 'main.ts'), ...args],
      {
        env: { ...process.env, KUBECONFIG: options.kubeconfig },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let buffered = '';
    this.#child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          this.logs.push(entry);
          if (process.env.WEIR_E2E_OPERATOR_LOGS) process.stderr.write(`[${identity}] ${line}\n`);
        } catch {
          process.stderr.write(`[${identity}] ${line}\n`);
        }
      }
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The operator's /metrics text. */
  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.healthPort}/metrics`);
    return res.text();
  }

  /** Resolves once /readyz answers 200. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${this.healthPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`operator ${this.identity} was not ready within ${timeoutMs / 1000}s`);
  }

  /** SIGTERM: a graceful stop that releases the lease. */
  async stop(): Promise<number | null> {
    this.#child.kill('SIGTERM');
    return this.#exited;
  }

  /** SIGKILL: a crash, nothing released. */
  async kill(): Promise<number | null> {
    this.#child.kill('SIGKILL');
    return this.#exited;
  }

  get exited(): Promise<number | null> {
    return this.#exited;
  }
}
