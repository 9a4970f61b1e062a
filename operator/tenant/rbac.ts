/**
 * What the Tenant controller may do, cluster-wide. The chart's ClusterRole grants exactly the
 * union of the controllers' rules (operator/rbac.test.ts checks the rendered chart).
 */
import type { PolicyRule } from '../../lib/kube/policy-rule.ts';
import { CREDENTIALS_SECRET } from '../../lib/platform/tenant-names.ts';

export const tenantRules: PolicyRule[] = [
  // Tenants: watched, their finalizer added (apply) and removed (JSON patch).
  { apiGroups: ['weir.dev'], resources: ['tenants'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['weir.dev'], resources: ['tenants/status'], verbs: ['patch'] },
  // Children carry blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
  // admission plugin allows only to those who may update the owner's finalizers.
  { apiGroups: ['weir.dev'], resources: ['tenants/finalizers'], verbs: ['update'] },
  // A deleted tenant deletes its pipelines first.
  { apiGroups: ['weir.dev'], resources: ['pipelines'], verbs: ['delete'] },
  // What a Tenant is made of, applied (an apply that creates needs create) and watched by
  // label; namespaces also read by name to check a claim. The garbage collector deletes them
  // with the Tenant.
  {
    apiGroups: [''],
    resources: ['namespaces', 'resourcequotas', 'limitranges'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  {
    apiGroups: ['networking.k8s.io'],
    resources: ['networkpolicies'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  {
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['roles', 'rolebindings'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  // Only the credentials Secret the operator writes in each tenant namespace, watched by name.
  {
    apiGroups: [''],
    resources: ['secrets'],
    resourceNames: [CREDENTIALS_SECRET],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  // The owners' Role grants these, and a Role can only grant what its writer holds.
  {
    apiGroups: ['weir.dev'],
    resources: ['pipelines', 'ratelimitpolicies'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  {
    apiGroups: ['weir.dev'],
    resources: ['pipelines/status', 'ratelimitpolicies/status'],
    verbs: ['get', 'list', 'watch'],
  },
  {
    apiGroups: [''],
    resources: ['configmaps'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  { apiGroups: [''], resources: ['events'], verbs: ['get', 'list', 'watch'] },
];
