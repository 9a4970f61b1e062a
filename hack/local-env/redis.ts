/**
 * redis-server on loopback, with an append-only file so data survives a restart. The
 * default user has a generated password: tenants' ACL users must not be able to become it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis as RedisClient } from 'ioredis';
import { ProcessComponent } from './process-component.ts';
import { ManagedProcess, waitUntil } from './managed-process.ts';
import { freePort } from './ports.ts';

export class Redis extends ProcessComponent {
  readonly name = 'redis';
  readonly dependsOn = [];
  readonly build = ['debian'] as const;
  readonly password = randomBytes(18).toString('base64url');

  /** Admin URL: the default user with its password. */
  get url(): string {
    return `redis://:${this.password}@127.0.0.1:${this.port}`;
  }

  async prepare(): Promise<void> {
    this.port = await freePort();
    const dataDir = join(this.ctx.dir, 'redis');
    mkdirSync(dataDir, { recursive: true });
    this.proc = new ManagedProcess({
      name: this.name,
      command: this.ctx.tools.redisServer,
      args: [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dataDir,
        '--requirepass',
        this.password,
        '--appendonly',
        'yes',
        '--appendfsync',
        'no',
        '--save',
        '',
        '--daemonize',
        'no',
        '--logfile',
        '',
      ],
      logFile: join(this.ctx.dir, 'redis.log'),
      pidFile: this.ctx.pidFile,
    });
  }

  async start(): Promise<void> {
    const proc = this.proc!;
    proc.start();
    await waitUntil(
      proc,
      'answering PING',
      async () => {
        const client = new RedisClient(this.url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } finally {
          client.disconnect();
        }
      },
      30_000,
    );
  }

  env(): Record<string, string> {
    return { WEIR_REDIS_URL: this.url };
  }
}
