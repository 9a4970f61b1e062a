/** Kafka admin clients of the Pipeline controller, one per Region, rebuilt when its brokers change. */
import type { Logger } from 'pino';
import { BatchingTopicAdmin } from '../../lib/kafka/batching-topic-admin.ts';
import { PlatformaticTopicAdmin } from '../../lib/kafka/platformatic-topic-admin.ts';
import type { TopicAdmin } from '../../lib/kafka/topic-admin.ts';
import type { RegionObject } from '../tenant/region-backends.ts';

/** Where the Pipeline controller gets the topic admin of a Region; the reconciler's seam for tests. */
export interface TopicAdminSource {
  forRegion(region: RegionObject): TopicAdmin;
}

/** Kafka admin clients per Region. */
export class KafkaAdmins implements TopicAdminSource {
  #admins = new Map<string, { brokers: string; admin: TopicAdmin }>();
  #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  forRegion(region: RegionObject): TopicAdmin {
    const name = region.metadata?.name ?? '';
    const brokers = region.spec.kafka.bootstrapServers.join(',');
    const cached = this.#admins.get(name);
    if (cached?.brokers === brokers) return cached.admin;
    void cached?.admin.close();
    // Reconciles running at once share one describe and one create request. The
    // @platformatic/kafka adapter speaks current protocol versions, so it reports topic ids.
    const admin = new BatchingTopicAdmin(
      new PlatformaticTopicAdmin({
        brokers: region.spec.kafka.bootstrapServers,
        clientId: 'weir-operator',
        log: this.#log,
      }),
    );
    this.#admins.set(name, { brokers, admin });
    return admin;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#admins.values()].map((a) => a.admin.close()));
  }
}
