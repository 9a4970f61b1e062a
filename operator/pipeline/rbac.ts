/** What the Pipeline controller may do, cluster-wide (see operator/tenant/rbac.ts). */
import type { PolicyRule } from '../../lib/kube/policy-rule.ts';

export const pipelineRules: PolicyRule[] = [
  { apiGroups: ['weir.dev'], resources: ['pipelines'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['weir.dev'], resources: ['pipelines/status'], verbs: ['patch'] },
  { apiGroups: ['weir.dev'], resources: ['pipelines/finalizers'], verbs: ['update'] },
  // The processor workload, applied and watched by label; the autoscaler deleted while paused.
  { apiGroups: [''], resources: ['configmaps', 'services'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  {
    apiGroups: ['autoscaling'],
    resources: ['horizontalpodautoscalers'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
];
