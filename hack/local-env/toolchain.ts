/**
 * Where the built programs live, and building them on demand through
 * hack/build-components.sh, which caches them by version.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const hackDir = join(import.meta.dirname, '..');

/** Pinned component versions from hack/versions.env. */
export function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(hackDir, 'versions.env'), 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) out[match[1]!] = match[2]!;
  }
  return out;
}

/** Root of the build cache. */
export function cacheDir(): string {
  return process.env.WEIR_CACHE ?? join(homedir(), '.cache', 'weir');
}

/** Paths of every program the local environment runs. */
export interface Toolchain {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  helm: string;
  /** Directory of the Kafka jars; the classpath is `<dir>/*`. */
  kafkaLibs: string;
  /** Directory of the Flink session cluster's jars; the classpath is `<dir>/*`. */
  flinkLibs: string;
  java: string;
  redisServer: string;
  /** bin directory of PostgreSQL (initdb, postgres). */
  postgresBin: string;
  /** Prometheus's rule checker and tester, unpacked from Debian's package. */
  promtool: string;
}

/** Paths of the programs at the pinned versions; they may not exist yet. */
export function toolchain(): Toolchain {
  const v = versions();
  const c = cacheDir();
  const kube = join(c, 'kube', v.KUBE_VERSION!, 'bin');
  const pgMajor = v.PG_MAJOR!;
  const pgRoot = '/usr/lib/postgresql';
  const pgVersion = existsSync(join(pgRoot, pgMajor))
    ? pgMajor
    : (readdirSync(pgRoot, { withFileTypes: true })
        .map((d) => d.name)
        .sort()
        .at(-1) ?? pgMajor);
  return {
    etcd: join(c, 'etcd', v.ETCD_VERSION!, 'bin', 'etcd'),
    kubeApiserver: join(kube, 'kube-apiserver'),
    kubeControllerManager: join(kube, 'kube-controller-manager'),
    kubeScheduler: join(kube, 'kube-scheduler'),
    kubectl: join(kube, 'kubectl'),
    helm: join(c, 'helm', v.HELM_VERSION!, 'bin', 'helm'),
    kafkaLibs: join(c, 'kafka', v.KAFKA_VERSION!, 'libs'),
    flinkLibs: join(c, 'flink', `${v.FLINK_VERSION}-${v.FLINK_KAFKA_CONNECTOR_VERSION}`, 'libs'),
    java: process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java',
    redisServer: '/usr/bin/redis-server',
    postgresBin: join(pgRoot, pgVersion, 'bin'),
    promtool: join(c, 'prometheus', v.PROMETHEUS_VERSION!, 'bin', 'promtool'),
  };
}

/** Build targets of hack/build-components.sh. */
export type BuildTarget = 'kube' | 'etcd' | 'helm' | 'kafka' | 'flink' | 'debian' | 'promtool';

/**
 * Builds whatever of the targets is not cached yet, streaming the script's progress to
 * stderr. A warm call returns in well under a second.
 */
export async function ensureBuilt(targets: readonly BuildTarget[]): Promise<void> {
  if (targets.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [join(hackDir, 'build-components.sh'), ...targets], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`hack/build-components.sh ${targets.join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}
