/**
 * Each tenant's slice of Kafka, as Strimzi's KafkaUser gives one: a SCRAM user whose ACLs
 * allow only the tenant's own topics (`weir.<namespace>.`), consumer groups and
 * transactional ids (the same prefix), so that isolation between tenants is Kafka's
 * authorizer, not a naming convention. Every method converges and is safe to repeat.
 */
import { assertTenantName } from '../../crds/tenant.ts';
import type { Logger } from '../observability/logger.ts';
import { missingAcls, principalOf, type AclBinding, type KafkaUserAdmin, type ScramMechanism } from './kafka-users.ts';

/** The Kafka user of a tenant (the same name as its Redis user). */
export function kafkaUserName(tenant: string): string {
  return `weir-tenant-${tenant}`;
}

/** The prefix of every topic, consumer group and transactional id of a tenant's namespace. */
export function kafkaResourcePrefix(namespace: string): string {
  return `weir.${namespace}.`;
}

/** What a tenant's user may do: read, write and describe its own topics; use its own groups and transactions. */
export function tenantAcls(tenant: string, namespace: string): AclBinding[] {
  const principal = principalOf(kafkaUserName(tenant));
  const prefix = kafkaResourcePrefix(namespace);
  const on = (resourceType: AclBinding['resourceType'], operations: AclBinding['operation'][]) =>
    operations.map((operation) => ({
      principal,
      resourceType,
      resourceName: prefix,
      pattern: 'Prefixed' as const,
      operation,
    }));
  return [
    ...on('Topic', ['Read', 'Write', 'Describe', 'DescribeConfigs']),
    ...on('Group', ['Read', 'Describe']),
    ...on('TransactionalId', ['Write', 'Describe']),
  ];
}

/** Manages tenants' Kafka users through an admin with the right to. */
export class KafkaTenantStore {
  #admin: KafkaUserAdmin;
  #mechanism: ScramMechanism;
  #log: Logger;

  constructor(options: { admin: KafkaUserAdmin; mechanism: ScramMechanism; log: Logger }) {
    this.#admin = options.admin;
    this.#mechanism = options.mechanism;
    this.#log = options.log;
  }

  /**
   * Creates the tenant's user with `password` if it has no credential of the mechanism (or
   * sets it anew when `rotate`, as when the password was just generated), and adds the ACLs
   * it lacks. A credential cannot be read back, so one present is taken to be this password.
   */
  async ensureUser({
    tenant,
    namespace,
    password,
    rotate,
  }: {
    tenant: string;
    namespace: string;
    password: string;
    rotate: boolean;
  }): Promise<{ user: string; prefix: string }> {
    assertTenantName(tenant);
    const user = kafkaUserName(tenant);
    const mechanisms = (await this.#admin.describeScramUsers([user])).get(user) ?? [];
    if (rotate || !mechanisms.includes(this.#mechanism)) {
      await this.#admin.upsertScramUser(user, password, this.#mechanism);
      this.#log.info(
        { tenant, user, mechanism: this.#mechanism },
        mechanisms.length ? 'set kafka user password' : 'created kafka user',
      );
    }
    const missing = missingAcls(tenantAcls(tenant, namespace), await this.#admin.describeAcls(principalOf(user)));
    if (missing.length) {
      await this.#admin.createAcls(missing);
      this.#log.info({ tenant, user, acls: missing.length }, 'granted kafka acls');
    }
    return { user, prefix: kafkaResourcePrefix(namespace) };
  }

  /** Removes the tenant's credential, so that it can no longer connect; its ACLs stay. Resolves with whether it had one. */
  async disableUser(tenant: string): Promise<boolean> {
    assertTenantName(tenant);
    const user = kafkaUserName(tenant);
    const mechanisms = (await this.#admin.describeScramUsers([user])).get(user) ?? [];
    for (const mechanism of mechanisms) await this.#admin.deleteScramUser(user, mechanism);
    if (mechanisms.length) this.#log.info({ tenant, user }, 'disabled kafka user');
    return mechanisms.length > 0;
  }

  /** Removes the tenant's credential and ACLs. */
  async deleteUser(tenant: string): Promise<void> {
    await this.disableUser(tenant);
    await this.#admin.deleteAcls(principalOf(kafkaUserName(tenant)));
    this.#log.info({ tenant, user: kafkaUserName(tenant) }, 'deleted kafka user and acls');
  }
}
