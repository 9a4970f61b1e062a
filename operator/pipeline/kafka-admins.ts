/**
 * The operator's Kafka admin clients, one per Region, rebuilt when its Kafka settings change:
 * topics for the Pipeline controller and the Region probes, and tenants' users and ACLs for
 * the Tenant controller. They authenticate and encrypt as the Region's `kafka.sasl` and
 * `kafka.tls` say; the credentials and CA come from the Region's Secrets in the platform
 * namespace, read when a connection opens, so that rotating them needs no restart.
 */
import type { Logger } from 'pino';
import { BatchingTopicAdmin } from '../../lib/kafka/batching-topic-admin.ts';
import { KafkaTenantStore } from '../../lib/kafka/kafka-tenant-store.ts';
import type { ScramMechanism } from '../../lib/kafka/kafka-users.ts';
import { PlatformaticTopicAdmin } from '../../lib/kafka/platformatic-topic-admin.ts';
import type { TopicAdmin } from '../../lib/kafka/topic-admin.ts';
import type { RegionObject } from '../tenant/region-backends.ts';
import type { RegionSecrets } from '../tenant/region-secrets.ts';

/** Where the Pipeline controller gets the topic admin of a Region; the reconciler's seam for tests. */
export interface TopicAdminSource {
  forRegion(region: RegionObject): TopicAdmin;
}

/** Where the Tenant controller gets a Region's Kafka users: none when its Kafka takes no SCRAM credentials. */
export interface KafkaUsersSource {
  usersForRegion(
    region: RegionObject,
  ): { store: KafkaTenantStore; mechanism: ScramMechanism } | { unsupported: string } | undefined;
}

interface Entry {
  fingerprint: string;
  topics: TopicAdmin;
  raw: PlatformaticTopicAdmin;
}

/** Kafka admin clients per Region. */
export class KafkaAdmins implements TopicAdminSource, KafkaUsersSource {
  #admins = new Map<string, Entry>();
  #secrets: RegionSecrets;
  #log: Logger;

  constructor(options: { secrets: RegionSecrets; log: Logger }) {
    this.#secrets = options.secrets;
    this.#log = options.log;
  }

  forRegion(region: RegionObject): TopicAdmin {
    return this.#entry(region).topics;
  }

  usersForRegion(region: RegionObject) {
    const sasl = region.spec.kafka.sasl;
    if (!sasl) return undefined;
    if (sasl.mechanism === 'PLAIN')
      return {
        unsupported: `Region ${region.metadata?.name}: tenants' Kafka users need SCRAM-SHA-256 or SCRAM-SHA-512; PLAIN users live in the brokers' own configuration`,
      };
    const mechanism = sasl.mechanism;
    return { store: new KafkaTenantStore({ admin: this.#entry(region).raw, mechanism, log: this.#log }), mechanism };
  }

  #entry(region: RegionObject): Entry {
    const name = region.metadata?.name ?? '';
    const kafka = region.spec.kafka;
    const fingerprint = JSON.stringify(kafka);
    const cached = this.#admins.get(name);
    if (cached?.fingerprint === fingerprint) return cached;
    void cached?.topics.close();
    const sasl = kafka.sasl;
    const tls = kafka.tls;
    const raw = new PlatformaticTopicAdmin({
      brokers: kafka.bootstrapServers,
      clientId: 'weir-operator',
      log: this.#log,
      sasl: sasl && {
        mechanism: sasl.mechanism,
        username: async () => (await this.#secrets.credentials(sasl.credentialsSecretRef)).username ?? '',
        password: async () => (await this.#secrets.credentials(sasl.credentialsSecretRef)).password ?? '',
      },
      tls: tls && { ca: tls.caSecretRef ? () => this.#secrets.key(tls.caSecretRef!) : undefined },
    });
    // Reconciles running at once share one describe and one create request. The
    // @platformatic/kafka adapter speaks current protocol versions, so it reports topic ids.
    const entry = { fingerprint, raw, topics: new BatchingTopicAdmin(raw) };
    this.#admins.set(name, entry);
    return entry;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#admins.values()].map((a) => a.topics.close()));
  }
}
