/**
 * A Flink session cluster on loopback, run from the jars collected from Maven Central: a
 * JobManager (StandaloneSessionClusterEntrypoint), one TaskManager (TaskManagerRunner) and
 * the SQL Gateway, each a component of its own so that a test can kill the TaskManager
 * alone. flink-dist is not served, so the configuration, the JVM's --add-opens list and the
 * TaskManager's memory flags (what the distribution's scripts would compute) are made here.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ComponentContext } from './component.ts';
import { ManagedProcess, waitUntil } from './managed-process.ts';
import { ProcessComponent } from './process-component.ts';
import { freePort } from './ports.ts';

/** What flink-dist's config.yaml passes to every JVM on Java 17 (env.java.opts.all). */
const JAVA_OPENS = [
  '--add-exports=java.base/sun.net.util=ALL-UNNAMED',
  '--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED',
  '--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '--add-opens=java.base/java.net=ALL-UNNAMED',
  '--add-opens=java.base/java.io=ALL-UNNAMED',
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens=java.base/java.text=ALL-UNNAMED',
  '--add-opens=java.base/java.time=ALL-UNNAMED',
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED',
];

const LOG4J2 = `rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-40c{1.} - %m%n
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4
logger.netty.level = WARN
`;

/** Files and ports the three processes share; prepared once, kept across restarts. */
export class FlinkCluster {
  readonly ctx: ComponentContext;
  readonly dir: string;
  readonly confDir: string;
  rpcPort = 0;
  restPort = 0;
  gatewayPort = 0;
  #prepared = false;

  constructor(ctx: ComponentContext) {
    this.ctx = ctx;
    this.dir = join(ctx.dir, 'flink');
    this.confDir = join(this.dir, 'conf');
  }

  get jobManagerUrl(): string {
    return `http://127.0.0.1:${this.restPort}`;
  }

  get sqlGatewayUrl(): string {
    return `http://127.0.0.1:${this.gatewayPort}`;
  }

  /** Where savepoints go unless a request names another directory. */
  get savepointDirectory(): string {
    return `file://${join(this.dir, 'savepoints')}`;
  }

  /** Writes config.yaml and log4j; the first of the three components to prepare does it. */
  async prepare(): Promise<void> {
    if (this.#prepared) return;
    this.#prepared = true;
    [this.rpcPort, this.restPort, this.gatewayPort] = [await freePort(), await freePort(), await freePort()];
    for (const sub of ['conf', 'checkpoints', 'savepoints', 'tmp', 'web'])
      mkdirSync(join(this.dir, sub), { recursive: true });
    const slots = process.env.WEIR_LOCAL_FLINK_SLOTS ?? '4';
    const config: Record<string, string | number> = {
      'jobmanager.rpc.address': '127.0.0.1',
      'jobmanager.rpc.port': this.rpcPort,
      'jobmanager.bind-host': '127.0.0.1',
      'jobmanager.memory.process.size': '1024m',
      'rest.address': '127.0.0.1',
      'rest.bind-address': '127.0.0.1',
      'rest.port': this.restPort,
      'taskmanager.host': '127.0.0.1',
      'taskmanager.bind-host': '127.0.0.1',
      'taskmanager.numberOfTaskSlots': slots,
      // The hashmap state backend keeps state on the heap; window aggregates buffer in managed memory.
      'taskmanager.memory.process.size': '1280m',
      'taskmanager.memory.managed.size': '128m',
      'parallelism.default': 1,
      'execution.target': 'remote',
      'state.backend.type': 'hashmap',
      'execution.checkpointing.dir': `file://${join(this.dir, 'checkpoints')}`,
      'execution.checkpointing.savepoint-dir': this.savepointDirectory,
      'restart-strategy.type': 'exponential-delay',
      'restart-strategy.exponential-delay.initial-backoff': '1s',
      'restart-strategy.exponential-delay.max-backoff': '10s',
      // A killed TaskManager is noticed within seconds instead of the default 50.
      'heartbeat.interval': '2000',
      'heartbeat.timeout': '10000',
      'io.tmp.dirs': join(this.dir, 'tmp'),
      'web.tmpdir': join(this.dir, 'web'),
      'sql-gateway.endpoint.rest.address': '127.0.0.1',
      'sql-gateway.endpoint.rest.bind-address': '127.0.0.1',
      'sql-gateway.endpoint.rest.port': this.gatewayPort,
    };
    writeFileSync(
      join(this.confDir, 'config.yaml'),
      Object.entries(config)
        .map(([k, v]) => `${k}: ${typeof v === 'number' ? v : JSON.stringify(v)}`)
        .join('\n') + '\n',
    );
    writeFileSync(join(this.confDir, 'log4j.properties'), LOG4J2);
  }

  /**
   * The JVM flags Flink's scripts compute for a process from the configuration
   * (BashJavaUtils GET_JM_RESOURCE_PARAMS / GET_TM_RESOURCE_PARAMS): heap and direct
   * memory limits, and for a TaskManager the `-D` memory settings it must start with.
   */
  resourceParams(command: 'GET_JM_RESOURCE_PARAMS' | 'GET_TM_RESOURCE_PARAMS'): { jvm: string[]; dynamic: string[] } {
    const result = spawnSync(
      this.ctx.tools.java,
      ['-cp', this.classpath, 'org.apache.flink.runtime.util.bash.BashJavaUtils', command, '--configDir', this.confDir],
      { encoding: 'utf8' },
    );
    const lines = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('BASH_JAVA_UTILS_EXEC_RESULT:'))
      .map((l) => l.slice('BASH_JAVA_UTILS_EXEC_RESULT:'.length).trim());
    if (result.status !== 0 || lines.length === 0)
      throw new Error(`computing Flink's memory settings failed:\n${result.stdout}${result.stderr}`);
    return {
      jvm: lines[0]!.split(/\s+/).filter(Boolean),
      dynamic: (lines[1] ?? '').split(/\s+/).filter(Boolean),
    };
  }

  get classpath(): string {
    return join(this.ctx.tools.flinkLibs, '*');
  }

  /** A process of the cluster: the jars, the opens list and logging to `<name>.log`. */
  process(name: string, mainClass: string, jvm: string[], args: string[], stopSignal?: NodeJS.Signals): ManagedProcess {
    const logFile = join(this.ctx.dir, `${name}.log`);
    return new ManagedProcess({
      name,
      command: this.ctx.tools.java,
      args: [
        ...jvm,
        ...JAVA_OPENS,
        '-XX:+UseG1GC',
        `-Dlog.file=${logFile}`,
        `-Dlog4j.configurationFile=${join(this.confDir, 'log4j.properties')}`,
        '-cp',
        this.classpath,
        mainClass,
        ...args,
      ],
      env: { ...process.env, FLINK_CONF_DIR: this.confDir },
      logFile,
      stopSignal,
      // Everything Flink must keep is in its checkpoint and savepoint files.
      stopGraceMs: 5_000,
      pidFile: this.ctx.pidFile,
    });
  }

  /** GETs a JSON document from the JobManager's REST API. */
  async jobManager<T>(path: string): Promise<T> {
    const res = await fetch(`${this.jobManagerUrl}${path}`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }
}

/** The JobManager: the session cluster's dispatcher, resource manager and REST API. */
export class FlinkJobManager extends ProcessComponent {
  readonly name = 'flink-jobmanager';
  readonly dependsOn = [];
  readonly build = ['flink'] as const;
  readonly cluster: FlinkCluster;

  constructor(ctx: ComponentContext, cluster: FlinkCluster) {
    super(ctx);
    this.cluster = cluster;
  }

  async prepare(): Promise<void> {
    await this.cluster.prepare();
    this.port = this.cluster.restPort;
    const { jvm } = this.cluster.resourceParams('GET_JM_RESOURCE_PARAMS');
    this.proc = this.cluster.process(
      this.name,
      'org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint',
      jvm,
      ['--configDir', this.cluster.confDir],
    );
  }

  async start(): Promise<void> {
    this.proc!.start();
    await waitUntil(
      this.proc!,
      'serving its REST API',
      () => this.cluster.jobManager('/overview').then(() => true),
      90_000,
    );
  }

  env(): Record<string, string> {
    return {
      WEIR_FLINK_JOBMANAGER_URL: this.cluster.jobManagerUrl,
      WEIR_FLINK_SAVEPOINT_DIR: this.cluster.savepointDirectory,
    };
  }
}

/**
 * The one TaskManager. Stopping it kills it outright (SIGKILL), as a crashed machine
 * would: fault-injection tests see the job restart from its last checkpoint.
 */
export class FlinkTaskManager extends ProcessComponent {
  readonly name = 'flink-taskmanager';
  readonly dependsOn = ['flink-jobmanager'] as const;
  readonly build = ['flink'] as const;
  readonly cluster: FlinkCluster;

  constructor(ctx: ComponentContext, cluster: FlinkCluster) {
    super(ctx);
    this.cluster = cluster;
  }

  async prepare(): Promise<void> {
    await this.cluster.prepare();
    const { jvm, dynamic } = this.cluster.resourceParams('GET_TM_RESOURCE_PARAMS');
    this.proc = this.cluster.process(
      this.name,
      'org.apache.flink.runtime.taskexecutor.TaskManagerRunner',
      jvm,
      ['--configDir', this.cluster.confDir, ...dynamic],
      'SIGKILL',
    );
  }

  async start(): Promise<void> {
    const before = await this.#registered();
    this.proc!.start();
    // A restarted TaskManager registers under a new id; the dead one may still be listed
    // until its heartbeat times out.
    await waitUntil(
      this.proc!,
      'registered with the JobManager',
      async () => [...(await this.#registered())].some((id) => !before.has(id)),
      90_000,
    );
  }

  async #registered(): Promise<Set<string>> {
    const { taskmanagers } = await this.cluster.jobManager<{ taskmanagers: { id: string }[] }>('/taskmanagers');
    return new Set(taskmanagers.map((t) => t.id));
  }

  env(): Record<string, string> {
    return {};
  }
}

/** The SQL Gateway: submits SQL statements to the session cluster over REST. */
export class FlinkSqlGateway extends ProcessComponent {
  readonly name = 'flink-sql-gateway';
  readonly dependsOn = ['flink-jobmanager'] as const;
  readonly build = ['flink'] as const;
  readonly cluster: FlinkCluster;

  constructor(ctx: ComponentContext, cluster: FlinkCluster) {
    super(ctx);
    this.cluster = cluster;
  }

  async prepare(): Promise<void> {
    await this.cluster.prepare();
    this.port = this.cluster.gatewayPort;
    this.proc = this.cluster.process(this.name, 'org.apache.flink.table.gateway.SqlGateway', ['-Xmx512m'], []);
  }

  async start(): Promise<void> {
    this.proc!.start();
    await waitUntil(
      this.proc!,
      'serving its REST API',
      async () => (await fetch(`${this.cluster.sqlGatewayUrl}/v1/info`, { signal: AbortSignal.timeout(2000) })).ok,
      90_000,
    );
  }

  env(): Record<string, string> {
    return { WEIR_FLINK_SQL_GATEWAY_URL: this.cluster.sqlGatewayUrl };
  }
}
