/**
 * controller-runtime's reconcile metrics, with its names, labels and buckets, so that the
 * dashboards and alerts platform teams already run for Go operators work for Weir's.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Outcome label values of controller_runtime_reconcile_total. */
export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after';

/** The metrics of every controller of one operator. */
export interface ControllerMetrics {
  reconciled(controller: string, outcome: ReconcileOutcome, seconds: number): void;
  failed(controller: string, terminal: boolean): void;
  workers(controller: string, max: number): void;
  active(controller: string, delta: number): void;
}

const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75,
  2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** Registers the controller_runtime_* metrics on the registry. Call once per registry. */
export function createControllerMetrics(registry: Registry): ControllerMetrics {
  const registers = [registry];
  const total = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'],
    registers,
  });
  const errors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'],
    registers,
  });
  const terminal = new Counter({
    name: 'controller_runtime_terminal_reconcile_errors_total',
    help: 'Total number of terminal reconciliation errors per controller',
    labelNames: ['controller'],
    registers,
  });
  const time = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'],
    buckets: RECONCILE_BUCKETS,
    registers,
  });
  const max = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ['controller'],
    registers,
  });
  const active = new Gauge({
    name: 'controller_runtime_active_workers',
    help: 'Number of currently used workers per controller',
    labelNames: ['controller'],
    registers,
  });
  return {
    reconciled(controller, outcome, seconds) {
      total.inc({ controller, result: outcome });
      time.observe({ controller }, seconds);
    },
    failed(controller, isTerminal) {
      errors.inc({ controller });
      if (isTerminal) terminal.inc({ controller });
    },
    workers(controller, n) {
      max.set({ controller }, n);
      active.set({ controller }, 0);
      for (const result of ['success', 'error', 'requeue', 'requeue_after']) total.inc({ controller, result }, 0);
      errors.inc({ controller }, 0);
      terminal.inc({ controller }, 0);
    },
    active(controller, delta) {
      active.inc({ controller }, delta);
    },
  };
}
