/**
 * What the Flink controller may do, cluster-wide: Pipelines, and read the tenants'
 * credentials Secret (by name only) for the Kafka user their jobs connect as; Flink itself
 * is reached over HTTP.
 */
import type { PolicyRule } from '../../lib/kube/policy-rule.ts';
import { CREDENTIALS_SECRET } from '../../lib/platform/tenant-names.ts';

export const flinkRules: PolicyRule[] = [
  { apiGroups: ['weir.dev'], resources: ['pipelines'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['weir.dev'], resources: ['pipelines/status'], verbs: ['patch'] },
  { apiGroups: ['weir.dev'], resources: ['pipelines/finalizers'], verbs: ['update'] },
  { apiGroups: [''], resources: ['secrets'], resourceNames: [CREDENTIALS_SECRET], verbs: ['get'] },
];
