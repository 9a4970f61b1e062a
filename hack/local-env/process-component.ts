/** What the local environment's servers share: one managed process, its context, stop and kill. */
import type { Component, ComponentContext, ComponentName } from './component.ts';
import type { ManagedProcess } from './managed-process.ts';
import type { BuildTarget } from './toolchain.ts';

export abstract class ProcessComponent implements Component {
  abstract readonly name: ComponentName;
  abstract readonly dependsOn: readonly ComponentName[];
  abstract readonly build: readonly BuildTarget[];
  protected readonly ctx: ComponentContext;
  /** Set by prepare(). */
  protected proc: ManagedProcess | undefined;
  /** The port clients connect to; chosen by prepare() and kept across restarts. */
  port = 0;

  constructor(ctx: ComponentContext) {
    this.ctx = ctx;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  abstract prepare(): Promise<void>;
  abstract start(): Promise<void>;
  abstract env(): Record<string, string>;

  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  killNow(): void {
    this.proc?.killNow();
  }
}
