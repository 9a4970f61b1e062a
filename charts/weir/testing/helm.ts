/** helm on the Weir chart, for the chart's tests: the cached helm of hack/build-components.sh. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { toolchain } from '../../../hack/local-env/toolchain.ts';

/** The chart's directory. */
export const chart = join(import.meta.dirname, '..');
const run = promisify(execFile);

/** Every optional part of the chart switched on. */
export const EVERYTHING = [
  '--set',
  'monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true',
];

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

/** helm's exit code and output; a non-zero exit is a result here, not an exception. */
export async function helm(args: string[]): Promise<{ code: number; output: string; stdout: string }> {
  try {
    const { stdout, stderr } = await run(toolchain().helm, args, { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}`, stdout: e.stdout ?? '' };
  }
}

/** The chart rendered as the release `weir` in `namespace` (weir-system), with `args` added. */
export async function render(args: string[] = [], namespace = 'weir-system'): Promise<Manifest[]> {
  const { code, output, stdout } = await helm(['template', 'weir', chart, '--namespace', namespace, ...args]);
  assert.equal(code, 0, output);
  return parseAllDocuments(stdout)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}
