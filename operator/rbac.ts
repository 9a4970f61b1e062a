/**
 * Everything the operator may do: the union of what its controllers declare, cluster-wide,
 * and what it needs in its own namespace only. The chart grants exactly this.
 */
import type { PolicyRule } from '../lib/kube/policy-rule.ts';
import { flinkRules } from './flink/rbac.ts';
import { pipelineRules } from './pipeline/rbac.ts';
import { rateLimitPolicyNamespaceRules, rateLimitPolicyRules } from './rate-limit-policy/rbac.ts';
import { regionNamespaceRules, regionRules } from './region/rbac.ts';
import { tenantRules } from './tenant/rbac.ts';

/** Events on the objects it reconciles, from every controller. */
const eventRules: PolicyRule[] = [{ apiGroups: [''], resources: ['events'], verbs: ['create'] }];

export const operatorClusterRules: PolicyRule[] = [
  ...tenantRules,
  ...pipelineRules,
  ...regionRules,
  ...rateLimitPolicyRules,
  ...flinkRules,
  ...eventRules,
];

/** Leader election, the Regions' credentials and the gateways' Leases, in the operator's namespace. */
export const operatorNamespaceRules: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  ...regionNamespaceRules,
  ...rateLimitPolicyNamespaceRules,
];
