/**
 * What the gateway may do: read Weir's resources and ConfigMaps (schemas), and write only
 * Leases in its own namespace (its report of the policies it applies). The chart grants
 * exactly this (rbac.integration.test.ts checks the rendered chart).
 */
import type { PolicyRule } from '../../lib/kube/policy-rule.ts';

export const gatewayClusterRules: PolicyRule[] = [
  {
    apiGroups: ['weir.dev'],
    resources: ['tenants', 'pipelines', 'ratelimitpolicies'],
    verbs: ['get', 'list', 'watch'],
  },
  // A pipeline's schema kept in a ConfigMap, read by name when the pipeline changes.
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
];

/** In the platform namespace only: the gateway's own Lease, applied (create and patch) and deleted on shutdown. */
export const gatewayNamespaceRules: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'patch', 'delete'] },
];
