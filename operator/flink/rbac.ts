/** What the Flink controller may do, cluster-wide: Pipelines only; Flink itself is reached over HTTP. */
import type { PolicyRule } from '../../lib/kube/policy-rule.ts';

export const flinkRules: PolicyRule[] = [
  { apiGroups: ['weir.dev'], resources: ['pipelines'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['weir.dev'], resources: ['pipelines/status'], verbs: ['patch'] },
  { apiGroups: ['weir.dev'], resources: ['pipelines/finalizers'], verbs: ['update'] },
];
