/**
 * Kafka's own users and their rights: SCRAM credentials and ACLs, as the interface the
 * operator manages them through (implemented by the @platformatic/kafka admin adapter), and
 * the pure pieces around it — a SCRAM credential from a password, and which of a user's
 * ACLs are missing.
 */
import { pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

/** The SCRAM mechanisms Kafka supports. */
export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

/** What an ACL applies to, as Kafka names resource types. */
export type AclResourceType = 'Topic' | 'Group' | 'TransactionalId' | 'Cluster';

/** The operations Weir grants. */
export type AclOperation = 'Read' | 'Write' | 'Describe' | 'DescribeConfigs' | 'IdempotentWrite';

/** One allowing ACL: `principal` may do `operation` on resources of `resourceType` named (or prefixed) `resourceName`. */
export interface AclBinding {
  principal: string;
  resourceType: AclResourceType;
  resourceName: string;
  pattern: 'Literal' | 'Prefixed';
  operation: AclOperation;
}

/** Managing SCRAM users and ACLs. */
export interface KafkaUserAdmin {
  /** The SCRAM mechanisms each of `users` has a credential for; users without any are absent. */
  describeScramUsers(users: string[]): Promise<Map<string, ScramMechanism[]>>;
  /** Sets the user's credential for `mechanism` to `password`, creating the user if needed. */
  upsertScramUser(user: string, password: string, mechanism: ScramMechanism): Promise<void>;
  /** Removes the user's credential for `mechanism`; a user without one is fine. */
  deleteScramUser(user: string, mechanism: ScramMechanism): Promise<void>;
  /** The ACLs of `principal`. */
  describeAcls(principal: string): Promise<AclBinding[]>;
  createAcls(bindings: AclBinding[]): Promise<void>;
  /** Removes every ACL of `principal`. */
  deleteAcls(principal: string): Promise<void>;
}

/** Iterations of a SCRAM credential: RFC 7677's minimum, which Kafka enforces too. */
export const SCRAM_ITERATIONS = 4096;

const pbkdf2Async = promisify(pbkdf2);

/** A SCRAM credential (RFC 5802's SaltedPassword) for `password`, as AlterUserScramCredentials takes it. */
export async function scramCredential(
  password: string,
  mechanism: ScramMechanism,
  iterations = SCRAM_ITERATIONS,
): Promise<{ salt: Buffer; saltedPassword: Buffer; iterations: number }> {
  const salt = randomBytes(32);
  const [digest, length] = mechanism === 'SCRAM-SHA-512' ? ['sha512', 64] : ['sha256', 32];
  const saltedPassword = await pbkdf2Async(password.normalize('NFKC'), salt, iterations, length, digest);
  return { salt, saltedPassword, iterations };
}

/** The principal of a SCRAM user. */
export function principalOf(user: string): string {
  return `User:${user}`;
}

const bindingKey = (b: AclBinding) => [b.principal, b.resourceType, b.resourceName, b.pattern, b.operation].join('|');

/** The bindings of `desired` that `existing` lacks. */
export function missingAcls(desired: readonly AclBinding[], existing: readonly AclBinding[]): AclBinding[] {
  const have = new Set(existing.map(bindingKey));
  return desired.filter((b) => !have.has(bindingKey(b)));
}
