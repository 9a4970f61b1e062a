/**
 * CPU time the local environment's servers have used, read from /proc: on a machine this
 * small, where a benchmark's time goes is mostly a matter of which process burns the CPU.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Programs worth telling apart: an executable's name, a Java main class or a script. */
const PROGRAMS = [
  'kube-apiserver',
  'etcd',
  'kube-controller-manager',
  'kube-scheduler',
  'kafka.Kafka',
  'redis-server',
  'postgres',
  'operator/main.ts',
  'org.apache.flink.runtime.taskexecutor.TaskManagerRunner',
  'org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint',
  'org.apache.flink.table.gateway.SqlGateway',
] as const;

const TICKS_PER_SECOND = 100;

interface ProcessInfo {
  ppid: number;
  argv: string[];
  cpuSeconds: number;
}

function processes(): Map<number, ProcessInfo> {
  const all = new Map<number, ProcessInfo>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Its own user and system time, and that of the children it has waited for: a server
      // that forks workers and reaps them (Postgres ends idle backends) keeps their CPU.
      const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      all.set(Number(entry), { ppid: Number(fields[1]), argv, cpuSeconds: ticks / TICKS_PER_SECOND });
    } catch {
      // exited while we looked
    }
  }
  return all;
}

/**
 * Seconds of CPU (user + system) used so far by each program's processes, summed. Only
 * processes of this local environment (descendants of the process that owns it, named in
 * the directory that holds its kubeconfig) and of this benchmark count: other environments
 * on the same machine do not.
 */
export function cpuByProgram(
  envDir = dirname(process.env.KUBECONFIG ?? '/nonexistent/kubeconfig'),
): Map<string, number> {
  const all = processes();
  let owner = NaN;
  try {
    owner = Number(readFileSync(join(envDir, 'owner'), 'utf8'));
  } catch {
    // not inside a local environment: count what this benchmark started
  }
  const ours = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = all.get(p)?.ppid ?? 0, hops++) {
      if (p === process.pid || p === owner) return true;
    }
    return false;
  };
  const totals = new Map<string, number>();
  for (const [pid, { argv, cpuSeconds }] of all) {
    // Servers such as postgres rename themselves ("postgres: weir postgres ...").
    const executable = basename(argv[0]?.split(' ')[0] ?? '').replace(/:$/, '');
    // The benchmark's own process is the client of the raw phase: its CPU counts too.
    const program =
      pid === process.pid
        ? 'bench'
        : PROGRAMS.find((p) => executable === p || argv.slice(1).some((a) => a === p || a.endsWith(`/${p}`)));
    if (!program || !ours(pid)) continue;
    totals.set(program, (totals.get(program) ?? 0) + cpuSeconds);
  }
  return totals;
}

/** What each program used between two readings, largest first, as one line. */
export function cpuBetween(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([program, seconds]) => [program, seconds - (before.get(program) ?? 0)] as const)
    .filter(([, seconds]) => seconds >= 0.05)
    .sort(([, a], [, b]) => b - a)
    .map(([program, seconds]) => `${program} ${seconds.toFixed(1)} s`)
    .join(', ');
}
