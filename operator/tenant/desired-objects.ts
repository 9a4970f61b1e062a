/**
 * The Kubernetes objects a Tenant should have, as pure functions of the Tenant: its
 * Namespace, ResourceQuota, LimitRange, NetworkPolicies, owner Role and RoleBinding, and
 * the Secret with its credentials.
 */
import type {
  V1LimitRange,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1OwnerReference,
  V1ResourceQuota,
  V1Role,
  V1RoleBinding,
  V1Secret,
} from '@kubernetes/client-node';
import type { TenantSpec } from '../../crds/tenant.ts';
import { CREDENTIALS_SECRET, tenantLabels } from '../../lib/platform/tenant-names.ts';

/** A Tenant as the builders need it. */
export interface TenantInput {
  name: string;
  spec: TenantSpec;
  ownerReference: V1OwnerReference;
  /** The operator's namespace, whose pods (gateways, serving) may reach the tenant's workloads. */
  platformNamespace: string;
}

function meta(tenant: TenantInput, name: string, namespace?: string) {
  return { name, namespace, labels: tenantLabels(tenant.name), ownerReferences: [tenant.ownerReference] };
}

/** The tenant's namespace; pods in it must meet the restricted Pod Security Standard. */
export function desiredNamespace(tenant: TenantInput, namespace: string): V1Namespace {
  const m = meta(tenant, namespace);
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      ...m,
      namespace: undefined,
      labels: { ...m.labels, 'pod-security.kubernetes.io/enforce': 'restricted' },
    },
  };
}

/** Caps on what the namespace may request, and on how many Pipelines it may hold. */
export function desiredResourceQuota(tenant: TenantInput, namespace: string): V1ResourceQuota {
  const q = tenant.spec.quotas;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: meta(tenant, 'weir-quota', namespace),
    spec: {
      hard: {
        'requests.cpu': q.cpu,
        'requests.memory': q.memory,
        'limits.memory': q.memory,
        'count/pipelines.weir.dev': String(q.pipelines),
        'count/configmaps': String(q.configMaps),
        'count/secrets': String(q.secrets),
      },
    },
  };
}

/** Defaults for containers that state no resources, so the quota can account for them. */
export function desiredLimitRange(tenant: TenantInput, namespace: string): V1LimitRange {
  return {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: meta(tenant, 'weir-limits', namespace),
    spec: {
      limits: [
        {
          type: 'Container',
          defaultRequest: { cpu: '100m', memory: '128Mi' },
          _default: { cpu: '500m', memory: '512Mi' },
        },
      ],
    },
  };
}

/**
 * Deny all ingress by default, then allow the namespace itself, the platform namespace,
 * and what the spec allows.
 */
export function desiredNetworkPolicies(tenant: TenantInput, namespace: string): V1NetworkPolicy[] {
  const byName = (ns: string): V1NetworkPolicyPeer => ({
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  });
  const from: V1NetworkPolicyPeer[] = [
    { podSelector: {} },
    byName(tenant.platformNamespace),
    ...(tenant.spec.network?.allowNamespaces ?? []).map(byName),
    ...(tenant.spec.network?.allowCidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
  ];
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(tenant, 'weir-default-deny-ingress', namespace),
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(tenant, 'weir-allow-ingress', namespace),
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ _from: from }] },
    },
  ];
}

/** What the tenant's owners may do in their namespace: manage Weir resources, and nothing else. */
export function desiredOwnerRole(tenant: TenantInput, namespace: string): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(tenant, 'weir-tenant-owner', namespace),
    rules: [
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
      { apiGroups: [''], resources: ['secrets'], resourceNames: [CREDENTIALS_SECRET], verbs: ['get'] },
    ],
  };
}

/** Binds the owners to their Role. */
export function desiredOwnerRoleBinding(tenant: TenantInput, namespace: string): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(tenant, 'weir-tenant-owners', namespace),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'weir-tenant-owner' },
    subjects: tenant.spec.owners.map((o) =>
      o.kind === 'ServiceAccount'
        ? { kind: 'ServiceAccount', name: o.name, namespace: o.namespace }
        : { kind: o.kind, name: o.name, apiGroup: 'rbac.authorization.k8s.io' },
    ),
  };
}

/** The Secret in the tenant namespace with the generated credentials. */
export function desiredCredentialsSecret(
  tenant: TenantInput,
  namespace: string,
  data: Record<string, string>,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(tenant, CREDENTIALS_SECRET, namespace),
    type: 'Opaque',
    stringData: data,
  };
}
