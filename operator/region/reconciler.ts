/**
 * Reconciles a Region: probes every backend it names once per period and writes what it
 * found to `status.backends`, `phase` and `Ready`, so that `kubectl get regions` shows what
 * works. An unreachable backend shows within one period and recovers without a restart. A
 * Region that shares the default mark with another says so.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { RegionStatus } from '../../crds/region.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import type { ReconcileRequest, ReconcileResult, Reconciler } from '../../lib/controller/reconcile.ts';
import type { EventRecorder } from '../../lib/kube/event-recorder.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { applyStatusIfChanged } from '../../lib/kube/status.ts';
import { defaultRegions, type RegionObject } from '../tenant/region-backends.ts';
import type { RegionProber } from './region-probes.ts';
import { regionStatus } from './region-status.ts';

type StoredRegion = KubernetesObject & RegionObject & { status?: RegionStatus };

export interface RegionReconcilerOptions {
  client: KubeClient;
  regions: { get(key: string): StoredRegion | undefined; list(): StoredRegion[] };
  prober: RegionProber;
  events: EventRecorder;
  clock: Clock;
  /** How often each Region's backends are probed. */
  probePeriodMs: number;
}

export class RegionReconciler implements Reconciler {
  #o: RegionReconcilerOptions;

  constructor(options: RegionReconcilerOptions) {
    this.#o = options;
  }

  async reconcile(request: ReconcileRequest, signal?: AbortSignal): Promise<ReconcileResult> {
    const region = this.#o.regions.get(request.key);
    if (!region) return {};
    const probes = await this.#o.prober.probe(region, signal);
    const defaults = defaultRegions(this.#o.regions.list()).map((r) => r.metadata!.name!);
    const { next, became, ready } = regionStatus(region, probes, defaults, this.#o.clock.now());
    if (await applyStatusIfChanged(this.#o.client, region, next)) {
      if (became === 'ready') void this.#o.events.record(region, 'Normal', ready.reason, ready.message);
      if (became === 'unready') void this.#o.events.record(region, 'Warning', ready.reason, ready.message);
    }
    return { requeueAfterMs: this.#o.probePeriodMs };
  }
}
