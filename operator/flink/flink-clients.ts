/** JobManager and SQL Gateway clients per Region, rebuilt when the Region's Flink endpoints change. */
import { JobManagerClient } from '../../lib/flink/job-manager-client.ts';
import { SqlGatewayClient } from '../../lib/flink/sql-gateway-client.ts';
import type { RegionObject } from '../tenant/region-backends.ts';

/** The two REST clients of one Flink session cluster. */
export interface FlinkClientPair {
  jobManager: JobManagerClient;
  gateway: SqlGatewayClient;
}

/** Hands out the clients of a Region's Flink; the Region must have spec.flink. */
export class FlinkClients {
  #byRegion = new Map<string, { fingerprint: string; pair: FlinkClientPair }>();

  forRegion(region: RegionObject): FlinkClientPair {
    const flink = region.spec.flink;
    if (!flink) throw new Error(`region ${region.metadata?.name} has no spec.flink`);
    const name = region.metadata?.name ?? '';
    const fingerprint = `${flink.jobManagerUrl} ${flink.sqlGatewayUrl}`;
    const cached = this.#byRegion.get(name);
    if (cached?.fingerprint === fingerprint) return cached.pair;
    const pair = {
      jobManager: new JobManagerClient({ url: flink.jobManagerUrl }),
      gateway: new SqlGatewayClient({ url: flink.sqlGatewayUrl }),
    };
    this.#byRegion.set(name, { fingerprint, pair });
    return pair;
  }
}
