/**
 * Requests the API server served, by verb and resource, from its own metrics: what a
 * benchmark's work cost the API server, per item.
 */
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { sumOf } from './prometheus-text.ts';

/** The API server's Prometheus text. */
function apiserverMetrics(): string {
  return spawnSync('kubectl', ['get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
}

/** apiserver_request_total by verb and resource (subresource appended), summed over codes and scopes. */
export function apiserverRequests(): Map<string, number> {
  const text = apiserverMetrics();
  const totals = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([^"]+)"/.exec(line)?.[1];
    const resource = /resource="([^"]*)"/.exec(line)?.[1];
    const subresource = /subresource="([^"]*)"/.exec(line)?.[1];
    const key = `${verb} ${resource}${subresource ? '/' + subresource : ''}`;
    totals.set(key, (totals.get(key) ?? 0) + Number(line.split(' ').at(-1)));
  }
  return totals;
}

/** The requests per item between two samples, largest first, as one line. */
export function requestsPerItem(before: Map<string, number>, after: Map<string, number>, items: number): string {
  return [...after]
    .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / items] as const)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
}

/**
 * Waits until the controller manager watches Weir's kinds. Its garbage collector and quota
 * controller find new CRDs by discovery every 30 s; until then every child of a Tenant
 * names an owner the collector has not seen, and it looks each one up. In a cluster the
 * CRDs were installed long before the first Tenant, so a bench must not start earlier.
 * Call it while nothing else watches these resources.
 */
export async function untilControllerManagerWatches(group: string, resources: string[]): Promise<number> {
  const start = performance.now();
  for (;;) {
    const text = apiserverMetrics();
    if (
      resources.every(
        (r) =>
          sumOf(text, 'apiserver_longrunning_requests', [`group="${group}"`, `resource="${r}"`, 'verb="WATCH"']) > 0,
      )
    )
      break;
    await sleep(1000);
  }
  return (performance.now() - start) / 1000;
}
