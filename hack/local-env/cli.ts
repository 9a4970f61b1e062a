/**
 * The local environment from the command line.
 *
 *   node hack/local-env/cli.ts up [--with <components>]        run Weir locally until Ctrl-C
 *   node hack/local-env/cli.ts run [--with <components>] -- <command...>
 *                                                               run a command inside an environment
 *   node hack/local-env/cli.ts build [--with <components>]      build and cache the programs only
 *
 * Components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kafka, redis,
 * postgres, process-node (runs Weir's pods as local processes, in place of a kubelet),
 * flink-jobmanager, flink-taskmanager, flink-sql-gateway, or the groups kube, kube-api,
 * flink (the three Flink processes; never part of all) and all (the default). `run` leaves out the Kubernetes
 * components and the process node when KUBECONFIG is already set, so tests use that cluster.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { serveControl } from './control-server.ts';
import { LocalEnv, resolveComponents } from './local-env.ts';
import { ensureBuilt, type BuildTarget } from './toolchain.ts';

const root = join(import.meta.dirname, '..', '..');
const log = (message: string) => process.stderr.write(`[weir local-env] ${message}\n`);

/** Runs kubectl; with `onOutput` its stdout is captured and handed over, else it is shown. */
function kubectl(
  env: Record<string, string>,
  args: string[],
  onOutput?: (stdout: string) => void,
  input?: string,
): void {
  const result = spawnSync('kubectl', args, {
    env: { ...process.env, ...env },
    input,
    encoding: 'utf8',
    stdio: [input === undefined ? 'ignore' : 'pipe', onOutput ? 'pipe' : 'inherit', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed`);
  onOutput?.(result.stdout);
}

/**
 * A default Region named `local` that points at this environment's Redis, Postgres and
 * Kafka, with the admin credentials in Secrets in weir-system.
 */
function applyLocalRegion(vars: Record<string, string>): void {
  const redis = new URL(vars.WEIR_REDIS_URL!);
  const postgres = new URL(vars.WEIR_POSTGRES_URL!);
  const secret = (name: string, username: string, password: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'weir-system' },
    stringData: { username, password },
  });
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weir-system' } },
    secret('local-redis-admin', 'default', decodeURIComponent(redis.password)),
    secret('local-postgres-admin', decodeURIComponent(postgres.username), decodeURIComponent(postgres.password)),
    {
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'Region',
      metadata: { name: 'local' },
      spec: {
        default: true,
        kafka: { bootstrapServers: [vars.WEIR_KAFKA_BROKERS ?? '127.0.0.1:9092'] },
        redis: {
          endpoints: [redis.host],
          adminCredentialsSecretRef: { namespace: 'weir-system', name: 'local-redis-admin' },
        },
        postgres: {
          primary: postgres.host,
          database: 'postgres',
          adminCredentialsSecretRef: { namespace: 'weir-system', name: 'local-postgres-admin' },
        },
      },
    },
  ];
  kubectl(
    vars,
    ['apply', '--server-side', '--field-manager=weir-up', '-f', '-'],
    () => undefined,
    objects.map((o) => JSON.stringify(o)).join('\n'),
  );
}

/** Runs the operator against the environment, logging to a file. */
function startOperator(vars: Record<string, string>, logFile: string): ChildProcess {
  const out = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [join(root, 'operator', 'main.ts'), '--leader-elect=false', '--health-port=0'],
    { env: { ...process.env, ...vars }, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  return child;
}

/** Namespaces the namespaced examples live in. */
function exampleNamespaces(): string[] {
  const dir = join(root, 'examples');
  const namespaces = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const namespace = (doc.toJS() as { metadata?: { namespace?: string } } | null)?.metadata?.namespace;
      if (namespace) namespaces.add(namespace);
    }
  }
  return [...namespaces];
}

/** Resolves on the first SIGINT or SIGTERM, with the signal's name. */
function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      resolve(signal);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

async function up(components: string[]): Promise<number> {
  const started = Date.now();
  const env = await LocalEnv.start({ components, log });
  const stopping = nextSignal();
  const control = await serveControl(env);
  let operator: ChildProcess | undefined;
  try {
    const vars: Record<string, string> = { ...env.env(), WEIR_LOCAL_ENV: control.url };
    if (env.components.has('kube-apiserver')) {
      log('installing the Weir CRDs');
      kubectl(vars, ['apply', '--server-side', '--field-manager=weir-up', '-f', join(root, 'crds')]);
      kubectl(vars, ['wait', '--for=condition=Established', '--timeout=60s', '-f', join(root, 'crds')]);
      if (env.components.has('redis') && env.components.has('postgres')) {
        log('creating the local Region and starting the operator');
        applyLocalRegion(vars);
        operator = startOperator(vars, join(env.dir, 'operator.log'));
      }
      log('applying the examples');
      // Until the Tenant controller creates tenant namespaces, `up` creates the ones the examples use.
      for (const namespace of exampleNamespaces()) {
        kubectl(vars, ['create', 'namespace', namespace, '--dry-run=client', '-o', 'yaml'], (yaml) =>
          kubectl(vars, ['apply', '--server-side', '--field-manager=weir-up', '-f', '-'], undefined, yaml),
        );
      }
      kubectl(vars, ['apply', '--server-side', '--field-manager=weir-up', '-f', join(root, 'examples')]);
      if (operator) kubectl(vars, ['wait', '--for=condition=Ready', '--timeout=90s', 'tenant/acme']);
    }
    const lines = [
      '',
      `Weir's local environment is up (${((Date.now() - started) / 1000).toFixed(1)}s). In another shell:`,
      '',
      ...Object.entries(vars)
        .filter(([k]) => k !== 'PATH')
        .map(([k, v]) => `  export ${k}='${v}'`),
      `  export PATH='${(vars.PATH ?? '').split(':').slice(0, 2).join(':')}':$PATH`,
      '',
    ];
    if (vars.KUBECONFIG) {
      lines.push(
        '  kubectl get weir -A                     # every Weir resource',
        '  kubectl get pipelines -A -o wide',
        '  kubectl explain pipeline.spec.aggregate.window',
        '  kubectl describe tenant acme',
        '',
      );
    }
    if (operator) lines.push(`The operator runs here too; its log: ${join(env.dir, 'operator.log')}`);
    lines.push(`Logs and data: ${env.dir}`, 'Press Ctrl-C to stop and clean up.', '');
    process.stdout.write(lines.join('\n'));
    const signal = await stopping;
    log(`${signal}: stopping`);
    return 0;
  } finally {
    if (operator && operator.exitCode === null) {
      const exited = new Promise((resolve) => operator!.once('exit', resolve));
      operator.kill('SIGTERM');
      await exited;
    }
    await control.close();
    await env.teardown();
    log('stopped; nothing left running');
  }
}

async function run(components: string[], command: string[]): Promise<number> {
  if (command.length === 0) throw new Error('run needs a command after --');
  let chosen = resolveComponents(components);
  if (process.env.KUBECONFIG) {
    chosen = chosen.filter((n) => n !== 'etcd' && !n.startsWith('kube-') && n !== 'process-node');
    log(`using the cluster in KUBECONFIG=${process.env.KUBECONFIG}`);
  }
  const env = await LocalEnv.start({ components: chosen, log });
  const control = await serveControl(env);
  try {
    const child = spawn(command[0]!, command.slice(1), {
      env: { ...process.env, ...env.env(), WEIR_LOCAL_ENV: control.url },
      stdio: 'inherit',
    });
    const exited = new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
      child.once('error', (err) => {
        log(`cannot run ${command[0]}: ${err.message}`);
        resolve(127);
      });
    });
    // The terminal sends Ctrl-C to the child as well; SIGTERM from a supervisor is passed on.
    const onSignal = (signal: NodeJS.Signals) => {
      if (signal === 'SIGTERM') child.kill('SIGTERM');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const code = await exited;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return code;
  } finally {
    await control.close();
    await env.teardown();
  }
}

async function main(): Promise<number> {
  const dashdash = process.argv.indexOf('--');
  const argv = dashdash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashdash);
  const command = dashdash === -1 ? [] : process.argv.slice(dashdash + 1);
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { with: { type: 'string', default: 'all' } },
  });
  const components = values.with
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  switch (positionals[0]) {
    case 'up':
      return up(components);
    case 'run':
      return run(components, command);
    case 'build': {
      const targets = new Set<BuildTarget>();
      const builds: Record<string, BuildTarget> = { etcd: 'etcd', kafka: 'kafka', redis: 'debian', postgres: 'debian' };
      for (const name of ['flink-jobmanager', 'flink-taskmanager', 'flink-sql-gateway']) builds[name] = 'flink';
      // The process node runs on the repository's own Node: nothing to build.
      for (const name of resolveComponents(components))
        if (name !== 'process-node') targets.add(builds[name] ?? 'kube');
      await ensureBuilt([...targets]);
      return 0;
    }
    default:
      process.stderr.write('usage: cli.ts up|run|build [--with components] [-- command...]\n');
      return 2;
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  log((err as Error).message);
  process.exitCode = 1;
}
