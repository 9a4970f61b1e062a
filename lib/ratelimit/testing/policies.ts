/** RateLimitPolicy objects for tests, with the defaults the API server would fill in. */
import { RateLimitPolicySpec } from '../../../crds/rate-limit-policy.ts';
import type { PolicyObject } from '../policy-set.ts';

/** A policy as the informer would cache it; `spec` is parsed so that defaults apply. */
export function policy(
  name: string,
  spec: Record<string, unknown>,
  options: { namespace?: string; created?: string; generation?: number } = {},
): PolicyObject {
  return {
    metadata: {
      name,
      namespace: options.namespace ?? 'tenant-acme',
      generation: options.generation ?? 1,
      creationTimestamp: options.created ?? '2030-01-01T00:00:00Z',
      uid: `uid-${name}`,
    },
    spec: RateLimitPolicySpec.parse(spec),
  };
}

/** A rule with a Global key unless given. */
export function rule(name: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, key: { source: 'Global' }, rate: 10, ...fields };
}
