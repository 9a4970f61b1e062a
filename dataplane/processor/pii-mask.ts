/**
 * Masking of the tenant's PII fields (Tenant spec.dataPolicy.piiFields), applied to every
 * event after enrichment and before aggregation, so that nothing the processor stores —
 * results in Redis, Postgres and the output topic, window state in the changelog — holds
 * a raw value. A value becomes `pii:` and 22 characters of an HMAC-SHA256 of its JSON:
 * the same value always gives the same pseudonym, so grouping and Distinct still work,
 * but it cannot be turned back without the key. Masking a pseudonym leaves it as it is,
 * so a retried or re-driven event masks the same way.
 *
 * The key is derived from the tenant's Postgres password (or Redis password), a secret only
 * the tenant's workloads and the operator know; events on the retry and dead-letter topics
 * are kept as they arrived on the input topic, which holds them raw already.
 */
import { createHmac } from 'node:crypto';
import { fieldReader, writeField } from './engine/event-fields.ts';

const PREFIX = 'pii:';

/** A function that masks the fields in place. */
export function piiMasker(fields: readonly string[], key: string): (event: Record<string, unknown>) => void {
  if (fields.length === 0) return () => undefined;
  const readers = fields.map((f) => [f, fieldReader(f)] as const);
  return (event) => {
    for (const [pointer, read] of readers) {
      const value = read(event);
      if (value === undefined || value === null) continue;
      if (typeof value === 'string' && value.startsWith(PREFIX)) continue;
      const digest = createHmac('sha256', key).update(JSON.stringify(value)).digest('base64url').slice(0, 22);
      writeField(event, pointer, `${PREFIX}${digest}`);
    }
  };
}
