/** What the RateLimitPolicy controller may do (see operator/tenant/rbac.ts). */
import type { PolicyRule } from '../../lib/kube/policy-rule.ts';

export const rateLimitPolicyRules: PolicyRule[] = [
  { apiGroups: ['weir.dev'], resources: ['ratelimitpolicies'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['weir.dev'], resources: ['ratelimitpolicies/status'], verbs: ['patch'] },
];

/** In the platform namespace only: the gateways' Leases, which say what each gateway applies. */
export const rateLimitPolicyNamespaceRules: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['list', 'watch'] },
];
