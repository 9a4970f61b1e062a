/** The Weir API: every kind, its zod schemas and its TypeScript types. */
import { pipelineDefinition } from './pipeline.ts';
import { rateLimitPolicyDefinition } from './rate-limit-policy.ts';
import { regionDefinition } from './region.ts';
import { tenantDefinition } from './tenant.ts';
import type { KindDefinition } from './kind-definition.ts';

export * from './kind-definition.ts';
export * from './tenant.ts';
export * from './pipeline.ts';
export * from './rate-limit-policy.ts';
export * from './region.ts';

/** Every kind of the Weir API, in the order their CRDs are written. */
export const weirKinds: readonly KindDefinition[] = [
  regionDefinition,
  tenantDefinition,
  pipelineDefinition,
  rateLimitPolicyDefinition,
];
