/**
 * CPU time the local environment's servers have used, read from /proc: on a machine this
 * small, where a benchmark's time goes is mostly a matter of which process burns the CPU.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';

/** Programs worth telling apart: an executable's name, a Java main class or a script. */
const PROGRAMS = ['kube-apiserver', 'etcd', 'kube-controller-manager', 'kube-scheduler', 'kafka.Kafka', 'redis-server', 'postgres', 'operator/main.ts'] as const;

const TICKS_PER_SECOND = 100;

/** Seconds of CPU (user + system) used so far by each program's processes, summed. */
export function cpuByProgram(): Map<string, number> {
  const totals = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    let stat: string;
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // The program itself, or the main class or script it runs; not a path among its flags.
    // Servers such as postgres rename themselves ("postgres: weir postgres ...").
    const executable = basename(argv[0]?.split(' ')[0] ?? '').replace(/:$/, '');
    const program = PROGRAMS.find((p) => executable === p || argv.slice(1).some((a) => a === p || a.endsWith(`/${p}`)));
    if (!program) continue;
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    totals.set(program, (totals.get(program) ?? 0) + seconds);
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
