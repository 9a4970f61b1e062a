/**
 * Probing the backends a Region names: Kafka metadata, Redis PING as the admin user,
 * Postgres `SELECT 1`, and — where the Region sets them — Flink's REST endpoints and the
 * object storage endpoint. Each probe is bounded by a timeout on the injected clock, so an
 * unreachable backend shows within one probe period and never holds the others.
 */
import type { RegionStatus } from '../../crds/region.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { errorSummary } from '../../lib/errors/errors.ts';
import type { TopicAdminSource } from '../pipeline/kafka-admins.ts';
import type { BackendsSource, RegionObject } from '../tenant/region-backends.ts';

/** What one probe found. */
export type BackendProbe = NonNullable<RegionStatus['backends']>[number];

/** Probes a Region's backends; the Region controller's seam for tests. */
export interface RegionProber {
  probe(region: RegionObject, signal?: AbortSignal): Promise<BackendProbe[]>;
}

/** How long one probe may take before its backend counts as unreachable. */
export const PROBE_TIMEOUT_MS = 5_000;

/** Settles with `work`, or rejects once `ms` passed on `clock`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, clock: Clock, what: string): Promise<T> {
  const timer = new AbortController();
  const timeout = clock
    .sleep(ms, timer.signal)
    .then(() => Promise.reject(new Error(`${what} did not answer within ${ms} ms`)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    timer.abort();
    timeout.catch(() => undefined);
  }
}

/** An HTTP endpoint is reachable when it answers at all, whatever the status: a 403 of a bucket still means storage is up. */
async function httpProbe(url: string, signal?: AbortSignal): Promise<void> {
  const res = await fetch(url, { method: 'GET', signal, redirect: 'manual' });
  await res.body?.cancel();
  if (res.status >= 500) throw new Error(`${url} answered ${res.status}`);
}

/** Probes through the operator's own admin clients of the Region. */
export class LiveRegionProber implements RegionProber {
  #o: { backends: BackendsSource; kafka: TopicAdminSource; clock: Clock };

  constructor(options: { backends: BackendsSource; kafka: TopicAdminSource; clock: Clock }) {
    this.#o = options;
  }

  async probe(region: RegionObject, signal?: AbortSignal): Promise<BackendProbe[]> {
    const { clock } = this.#o;
    const spec = region.spec;
    const probes: [BackendProbe['name'], () => Promise<unknown>][] = [
      ['Kafka', () => this.#o.kafka.forRegion(region).ping()],
      ['Redis', async () => (await this.#o.backends.forRegion(region)).redis.ping()],
      ['Postgres', async () => (await this.#o.backends.forRegion(region)).postgres.ping()],
    ];
    if (spec.flink) {
      const flink = spec.flink;
      probes.push([
        'Flink',
        () =>
          Promise.all([
            httpProbe(new URL('/v1/overview', flink.jobManagerUrl).href, signal),
            httpProbe(new URL('/v1/info', flink.sqlGatewayUrl).href, signal),
          ]),
      ]);
    }
    if (spec.objectStorage) {
      const storage = spec.objectStorage;
      probes.push(['ObjectStorage', () => httpProbe(new URL(`/${storage.bucket}`, storage.endpoint).href, signal)]);
    }
    return Promise.all(
      probes.map(async ([name, run]): Promise<BackendProbe> => {
        const started = clock.monotonic();
        const lastProbeTime = new Date(clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
        try {
          await withTimeout(run(), PROBE_TIMEOUT_MS, clock, name);
          return {
            name,
            reachable: true,
            latencyMs: Math.round((clock.monotonic() - started) * 10) / 10,
            lastProbeTime,
          };
        } catch (err) {
          return { name, reachable: false, lastProbeTime, message: errorSummary(err).slice(0, 4096) };
        }
      }),
    );
  }
}
