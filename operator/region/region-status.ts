/** A Region's status as a pure function of its probes and of the other Regions. */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { RegionStatus } from '../../crds/region.ts';
import { setCondition, summarize, type Condition, type ConditionUpdate } from '../../lib/kube/conditions.ts';
import type { RegionObject } from '../tenant/region-backends.ts';
import type { BackendProbe } from './region-probes.ts';

export const Reason = {
  Ready: 'Ready',
  Reachable: 'Reachable',
  Unreachable: 'Unreachable',
  Unique: 'Unique',
  MultipleDefaults: 'MultipleDefaults',
} as const;

/** The status a Region gets from its probes; `defaults` are the names of every Region marked default. */
export function regionStatus(
  region: KubernetesObject & RegionObject & { status?: RegionStatus },
  probes: readonly BackendProbe[],
  defaults: readonly string[],
  now: number,
): { next: RegionStatus; became?: 'ready' | 'unready'; ready: ConditionUpdate } {
  const down = probes.filter((p) => !p.reachable);
  const reachable: ConditionUpdate = down.length
    ? {
        type: 'BackendsReachable',
        status: 'False',
        reason: Reason.Unreachable,
        message: down.map((p) => `${p.name}: ${p.message}`).join('; '),
      }
    : {
        type: 'BackendsReachable',
        status: 'True',
        reason: Reason.Reachable,
        message: `${probes.map((p) => p.name).join(', ')} reachable`,
      };
  const parts = [reachable];
  if (region.spec.default) {
    parts.push(
      defaults.length > 1
        ? {
            type: 'DefaultUnique',
            status: 'False',
            reason: Reason.MultipleDefaults,
            message: `Regions ${defaults.join(' and ')} are all marked default: tenants that name no Region get none until only one is`,
          }
        : { type: 'DefaultUnique', status: 'True', reason: Reason.Unique, message: 'the only default Region' },
    );
  }
  const ready = summarize(parts, Reason.Ready, 'every backend answers');
  const generation = region.metadata?.generation ?? 0;
  let conditions: Condition[] | undefined = region.status?.conditions?.filter(
    (c) => region.spec.default || c.type !== 'DefaultUnique',
  );
  for (const update of [...parts, ready]) conditions = setCondition(conditions, update, generation, new Date(now));
  const wasReady = region.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const isReady = ready.status === 'True';
  const next: RegionStatus = {
    observedGeneration: generation,
    phase: isReady ? 'Ready' : 'Degraded',
    conditions,
    backends: [...probes],
  };
  return { next, ready, became: isReady && !wasReady ? 'ready' : !isReady && wasReady ? 'unready' : undefined };
}
