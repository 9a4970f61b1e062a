/**
 * PostgreSQL on loopback with a fresh cluster. The superuser has a generated password and
 * clients authenticate with SCRAM over TCP, as they would in a real deployment. PostgreSQL
 * refuses to run as root, so under root it runs as the `postgres` user from the package.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ProcessComponent } from './process-component.ts';
import { ManagedProcess, waitUntil } from './managed-process.ts';
import { freePort } from './ports.ts';

function postgresUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0)
    throw new Error(
      'running as root, and there is no postgres user to run PostgreSQL as (install postgresql from Debian)',
    );
  return { uid, gid: id('-g') };
}

export class Postgres extends ProcessComponent {
  readonly name = 'postgres';
  readonly dependsOn = [];
  readonly build = ['debian'] as const;
  readonly password = randomBytes(18).toString('base64url');

  get url(): string {
    return `postgres://postgres:${this.password}@127.0.0.1:${this.port}/postgres`;
  }

  async prepare(): Promise<void> {
    this.port = await freePort();
    const dir = join(this.ctx.dir, 'postgres');
    const dataDir = join(dir, 'data');
    const socketDir = join(dir, 'run');
    mkdirSync(socketDir, { recursive: true });
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${this.password}\n`, { mode: 0o600 });
    const owner = postgresUser();
    // The postgres user must be able to reach its directory inside the private environment directory.
    if (owner) chmodSync(this.ctx.dir, 0o711);
    if (owner) for (const path of [dir, socketDir, pwfile]) chownSync(path, owner.uid, owner.gid);
    const init = spawnSync(
      join(this.ctx.tools.postgresBin, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        'postgres',
        `--pwfile=${pwfile}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { encoding: 'utf8', uid: owner?.uid, gid: owner?.gid },
    );
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}${init.stderr}`);
    this.proc = new ManagedProcess({
      name: this.name,
      command: join(this.ctx.tools.postgresBin, 'postgres'),
      args: [
        '-D',
        dataDir,
        '-p',
        String(this.port),
        '-k',
        socketDir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
      ],
      uid: owner?.uid,
      gid: owner?.gid,
      // SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client to leave.
      stopSignal: 'SIGINT',
      logFile: join(this.ctx.dir, 'postgres.log'),
      pidFile: this.ctx.pidFile,
    });
    if (owner) {
      writeFileSync(this.proc.spec.logFile, '');
      chownSync(this.proc.spec.logFile, owner.uid, owner.gid);
    }
  }

  async start(): Promise<void> {
    const proc = this.proc!;
    proc.start();
    await waitUntil(
      proc,
      'accepting queries',
      async () => {
        const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      60_000,
    );
  }

  env(): Record<string, string> {
    return { WEIR_POSTGRES_URL: this.url };
  }
}
