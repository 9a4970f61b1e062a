/**
 * RateLimitPolicy: limits every gateway applies live, to a Pipeline or to the whole
 * tenant namespace — token buckets or sliding windows keyed by claim, header, client IP
 * or nothing, stream limits, and IP allow and deny lists.
 */
import { z } from 'zod';
import { isDurationExpr, listMap, listSet, validated } from './cel.ts';
import { boundedDuration, Cidr, Conditions, Identifier } from './fields.ts';
import type { KindDefinition } from './kind-definition.ts';

export const RateLimitKey = validated(
  z.object({
    source: z
      .enum(['Global', 'ClientIP', 'Header', 'TokenClaim'])
      .describe(
        'What a bucket is kept per: one for everyone (Global), per client IP, per value of a header, or per value of a token claim.',
      ),
    name: z.string().min(1).max(256).optional().describe('Header or claim name; only for Header and TokenClaim.'),
  }),
  {
    rule: "(self.source == 'Header' || self.source == 'TokenClaim') == has(self.name)",
    message: 'name is required for, and only allowed with, source Header or TokenClaim',
    fieldPath: '.name',
  },
);

export const RateLimitRule = validated(
  z.object({
    name: Identifier.describe('Name of the rule, unique in the policy; shown in metrics and responses.'),
    key: RateLimitKey.describe('What the limit is counted per.'),
    rate: z.int().min(1).max(1_000_000_000).describe('Requests (or bytes) allowed per period; must be positive.'),
    per: boundedDuration('0s', '24h').default('1s').describe('Period the rate is measured over; at most 24h.'),
    unit: z.enum(['Requests', 'Bytes']).default('Requests').describe('Whether rate counts requests or payload bytes.'),
    burst: z
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .describe('Most requests (or bytes) allowed at once; defaults to rate.'),
    cost: z.int().min(1).max(1_000_000).default(1).describe('Tokens one request takes (for unit Requests).'),
    algorithm: z
      .enum(['TokenBucket', 'SlidingWindow'])
      .default('TokenBucket')
      .describe('TokenBucket (smooth, allows bursts) or SlidingWindow (strict count over the period).'),
  }),
  {
    rule: `!${isDurationExpr('self.per')} || duration(self.per) > duration('0s')`,
    message: 'per must be longer than 0s',
    fieldPath: '.per',
  },
);

export const RateLimitPolicySpec = z.object({
  targetRef: z
    .object({
      kind: z.enum(['Pipeline']).describe('Kind of the target; only Pipeline.'),
      name: z.string().min(1).max(253).describe('Name of the Pipeline in the same namespace.'),
    })
    .optional()
    .describe('The Pipeline the policy limits; without it, every pipeline of the namespace.'),
  rules: listMap(z.array(RateLimitRule).min(1).max(16), 'name').describe(
    'Limits that all apply; a request must pass every one.',
  ),
  streams: z
    .object({
      messagesPerSecond: z
        .int()
        .min(1)
        .optional()
        .describe('Messages per second on one WebSocket connection or gRPC stream.'),
      maxMessageBytes: z
        .int()
        .min(1)
        .max(16 * 1024 * 1024)
        .optional()
        .describe('Largest message on a WebSocket connection or gRPC stream.'),
      maxConnections: z
        .int()
        .min(1)
        .optional()
        .describe('Concurrent WebSocket connections and gRPC streams per key of the first rule.'),
    })
    .optional()
    .describe('Per-message and per-connection limits for WebSocket and gRPC streams.'),
  mode: z
    .enum(['Enforce', 'Shadow'])
    .default('Enforce')
    .describe('Enforce rejects requests over the limit; Shadow only counts them in metrics.'),
  onStoreFailure: z
    .enum(['FailOpen', 'FailClosed'])
    .default('FailOpen')
    .describe(
      'What gateways do when Redis is unreachable: let requests through (FailOpen) or reject them (FailClosed).',
    ),
  ipAllow: listSet(z.array(Cidr).max(256)).optional().describe('If set, only clients in these networks are accepted.'),
  ipDeny: listSet(z.array(Cidr).max(256))
    .optional()
    .describe('Clients in these networks are rejected, even if allowed above.'),
});

export const RateLimitPolicyStatus = z.object({
  observedGeneration: z.int().min(0).optional().describe('The metadata.generation the status was computed from.'),
  conditions: Conditions.optional(),
  appliedBy: z.int().min(0).optional().describe('How many gateways apply the current generation.'),
  conflicts: listSet(z.array(z.string().max(253)).max(64))
    .optional()
    .describe('Other policies with a rule of the same name for the same target.'),
});

export type RateLimitPolicySpec = z.output<typeof RateLimitPolicySpec>;
export type RateLimitPolicyStatus = z.output<typeof RateLimitPolicyStatus>;

export const rateLimitPolicyDefinition: KindDefinition = {
  kind: 'RateLimitPolicy',
  plural: 'ratelimitpolicies',
  singular: 'ratelimitpolicy',
  shortNames: ['wrl'],
  scope: 'Namespaced',
  description: 'Limits every Weir gateway applies live to a Pipeline or to a whole tenant namespace.',
  spec: RateLimitPolicySpec.describe('Desired limits.'),
  status: RateLimitPolicyStatus.describe('Whether the policy is accepted and how many gateways apply it.'),
  nameRule: {
    maxLength: 253,
    rule: {
      rule: "self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",
      message: 'must be a DNS subdomain: lower-case letters, digits, - and .',
    },
  },
  printerColumns: [
    { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Gateways', type: 'integer', jsonPath: '.status.appliedBy' },
  ],
};
