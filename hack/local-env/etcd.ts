/** etcd, the API server's storage, on loopback with fsync off. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessComponent } from './process-component.ts';
import { ManagedProcess, waitUntil } from './managed-process.ts';
import { freePort } from './ports.ts';

export class Etcd extends ProcessComponent {
  readonly name = 'etcd';
  readonly dependsOn = [];
  readonly build = ['etcd'] as const;
  clientPort = 0;

  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  async prepare(): Promise<void> {
    this.clientPort = await freePort();
    const peerPort = await freePort();
    const dataDir = join(this.ctx.dir, 'etcd');
    mkdirSync(dataDir, { recursive: true });
    const peer = `http://127.0.0.1:${peerPort}`;
    this.proc = new ManagedProcess({
      name: this.name,
      command: this.ctx.tools.etcd,
      args: [
        '--name=weir',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${this.url}`,
        `--advertise-client-urls=${this.url}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=weir=${peer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      logFile: join(this.ctx.dir, 'etcd.log'),
      pidFile: this.ctx.pidFile,
    });
  }

  async start(): Promise<void> {
    const proc = this.proc!;
    proc.start();
    await waitUntil(
      proc,
      'healthy',
      async () => {
        const res = await fetch(`${this.url}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      30_000,
    );
  }

  env(): Record<string, string> {
    return {};
  }
}
