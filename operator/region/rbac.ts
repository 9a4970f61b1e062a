/** What the Region controller may do (see operator/tenant/rbac.ts). */
import type { PolicyRule } from '../../lib/kube/policy-rule.ts';

export const regionRules: PolicyRule[] = [
  { apiGroups: ['weir.dev'], resources: ['regions'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['weir.dev'], resources: ['regions/status'], verbs: ['patch'] },
];

/** In the platform namespace only: the Regions' admin credentials. */
export const regionNamespaceRules: PolicyRule[] = [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }];
