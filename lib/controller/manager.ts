/**
 * Runs an operator's parts in the right order: caches first (on every replica, so a new
 * leader starts warm), health and metrics, then leader election, and the controllers only
 * while leading. Shuts down in reverse on SIGTERM. When leadership is lost it stops
 * reconciling at once — running reconciles see their signal abort and no further key is
 * handed out — and reports it, so that the process exits and only one replica reconciles.
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../clock/clock.ts';
import type { Informer } from '../kube/informer.ts';
import type { KubeClient } from '../kube/kube-client.ts';
import { createLeaderElectionMetrics } from '../kube/leader-election-metrics.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { serveHealth } from '../observability/health-server.ts';
import type { Logger } from '../observability/logger.ts';
import type { Controller } from './controller.ts';

export interface ManagerOptions {
  client: KubeClient;
  registry: Registry;
  log: Logger;
  clock: Clock;
  healthPort: number;
  leaderElection?: {
    namespace: string;
    name: string;
    identity: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- informers of every kind live side by side
  informers: Informer<any>[];
  controllers: Controller[];
  /** Closes connections to external systems after the controllers stopped. */
  onShutdown?: () => Promise<void>;
}

/** How the manager ended: stopped on request, or leadership lost (the process should exit non-zero). */
export type ManagerExit = 'stopped' | 'lost-leadership';

export class Manager {
  #o: ManagerOptions;
  #stopping = false;
  #leading = false;
  #done!: (exit: ManagerExit) => void;
  readonly finished: Promise<ManagerExit> = new Promise((resolve) => (this.#done = resolve));
  #elector: LeaderElector | undefined;
  #closeHealth: (() => Promise<void>) | undefined;
  #controllersRunning: Promise<unknown> | undefined;
  healthPort = 0;

  constructor(options: ManagerOptions) {
    this.#o = options;
  }

  /** Whether this replica runs the controllers now. */
  get leading(): boolean {
    return this.#leading;
  }

  async start(): Promise<void> {
    const { log } = this.#o;
    const health = await serveHealth({
      port: this.#o.healthPort,
      registry: this.#o.registry,
      healthy: () => !this.#stopping,
      ready: () => this.#o.informers.every((i) => i.hasSynced),
    });
    this.healthPort = health.port;
    this.#closeHealth = health.close;
    for (const informer of this.#o.informers) informer.start();
    await Promise.all(this.#o.informers.map((i) => i.waitForSync()));
    log.info({ informers: this.#o.informers.length, healthPort: health.port }, 'caches synced');

    const le = this.#o.leaderElection;
    if (!le) {
      this.#startControllers();
      return;
    }
    this.#elector = new LeaderElector({
      client: this.#o.client,
      ...le,
      clock: this.#o.clock,
      log,
      metrics: createLeaderElectionMetrics(this.#o.registry),
      onStartedLeading: () => this.#startControllers(),
      onStoppedLeading: () => {
        this.#leading = false;
        if (!this.#stopping) {
          log.error(
            'leadership lost; stopping the controllers at once and exiting so that only one replica reconciles',
          );
          for (const controller of this.#o.controllers) void controller.stop();
          this.#done('lost-leadership');
        }
      },
      onNewLeader: (identity) => log.info({ leader: identity }, 'leader observed'),
    });
    void this.#elector.run();
  }

  #startControllers(): void {
    this.#leading = true;
    this.#o.log.info('starting controllers');
    this.#controllersRunning = Promise.all(this.#o.controllers.map((c) => c.start()));
  }

  /** Stops controllers (letting running reconciles finish), releases the lease, stops caches. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await Promise.all(this.#o.controllers.map((c) => c.stop()));
    await this.#controllersRunning;
    await this.#elector?.stop();
    await Promise.all(this.#o.informers.map((i) => i.stop()));
    await this.#o.onShutdown?.();
    await this.#closeHealth?.();
    this.#done('stopped');
  }
}
