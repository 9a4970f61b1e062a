/**
 * Leader election metrics under the name client-go uses, so that the dashboards and
 * alerts written for Kubernetes' own controllers work for Weir's operator unchanged.
 */
import { Gauge, type Registry } from 'prom-client';

/** What a {@link LeaderElector} reports about its leadership. */
export interface LeaderElectionMetrics {
  /** Records whether this process leads the lease called `name`. */
  setLeading(name: string, leading: boolean): void;
}

/**
 * Registers `leader_election_master_status{name}` on `registry`: 1 while this process
 * leads the lease, 0 otherwise. Call it once per registry and share the result between
 * electors; prom-client refuses a second metric of the same name.
 */
export function createLeaderElectionMetrics(registry: Registry): LeaderElectionMetrics {
  const status = new Gauge({
    name: 'leader_election_master_status',
    help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
    labelNames: ['name'] as const,
    registers: [registry],
  });
  return {
    setLeading(name, leading) {
      status.set({ name }, leading ? 1 : 0);
    },
  };
}
