/** Runs Weir's gateway as a separate process for e2e tests, with the command its pods run. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../hack/local-env/ports.ts';
import { root } from './cluster.ts';

/** One running gateway. */
export class GatewayProcess {
  readonly id: string;
  readonly logs: Record<string, unknown>[] = [];
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly metricsPort: number;
  #child: ChildProcess;
  #exited: Promise<number | null>;

  private constructor(
    id: string,
    ports: [number, number, number],
    options: { kubeconfig: string; env?: Record<string, string>; args?: string[] },
  ) {
    this.id = id;
    [this.httpPort, this.grpcPort, this.metricsPort] = ports;
    this.#child = spawn(process.execPath, [join(root, 'dataplane', 'gateway', 'main.ts'), ...(options.args ?? [])], {
      env: {
        ...process.env,
        KUBECONFIG: options.kubeconfig,
        WEIR_GATEWAY_ID: id,
        WEIR_LISTEN_HOST: '127.0.0.1',
        WEIR_HTTP_PORT: String(ports[0]),
        WEIR_GRPC_PORT: String(ports[1]),
        WEIR_METRICS_PORT: String(ports[2]),
        WEIR_PLATFORM_NAMESPACE: 'weir-system',
        WEIR_DRAIN_SECONDS: '4',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    this.#child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
          if (process.env.WEIR_E2E_GATEWAY_LOGS) process.stderr.write(`[${id}] ${line}\n`);
        } catch {
          process.stderr.write(`[${id}] ${line}\n`);
        }
      }
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  /** Starts a gateway on free ports of 127.0.0.1. */
  static async start(
    id: string,
    options: { kubeconfig: string; env?: Record<string, string>; args?: string[] },
  ): Promise<GatewayProcess> {
    return new GatewayProcess(id, [await freePort(), await freePort(), await freePort()], options);
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Resolves once /readyz answers 200. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`gateway ${this.id} was not ready within ${timeoutMs / 1000}s`);
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
  }

  /** SIGTERM: a drain. */
  stop(): Promise<number | null> {
    this.#child.kill('SIGTERM');
    return this.#exited;
  }

  /** SIGKILL: a crash. */
  kill(): Promise<number | null> {
    this.#child.kill('SIGKILL');
    return this.#exited;
  }

  get exited(): Promise<number | null> {
    return this.#exited;
  }
}
