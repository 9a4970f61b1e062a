/** What every server of the local environment looks like to the environment that runs it. */
import type { BuildTarget, Toolchain } from './toolchain.ts';

/** Servers the local environment can run. */
// The process node comes last: it starts once everything its pods use is up, and stops first.
export const COMPONENT_NAMES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kafka',
  'redis',
  'postgres',
  'flink-jobmanager',
  'flink-taskmanager',
  'flink-sql-gateway',
  'process-node',
] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

/** Shared by the components of one environment. */
export interface ComponentContext {
  /** Root directory of the environment's data, logs and generated files. */
  dir: string;
  pidFile: string;
  tools: Toolchain;
  log: (message: string) => void;
}

/** One server: prepared once, then started and stopped as often as a test needs. */
export interface Component {
  readonly name: ComponentName;
  /** Components that must be running before this one starts. */
  readonly dependsOn: readonly ComponentName[];
  /** Build targets the component's programs come from. */
  readonly build: readonly BuildTarget[];
  readonly running: boolean;
  /** Picks ports and creates data directories; the ports stay the same across restarts. */
  prepare(): Promise<void>;
  /** Starts the process and resolves once it is healthy. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Kills at once, from a synchronous exit handler. */
  killNow(): void;
  /** Variables that tell clients how to reach the component. */
  env(): Record<string, string>;
}
