/** Prometheus metrics (prom-client): one registry per process, with Node's default metrics. */
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry with the process and Node.js metrics every Weir process exports. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
