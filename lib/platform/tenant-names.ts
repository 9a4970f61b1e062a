/** Names a Tenant's parts derive from its name; one place so that every part agrees. */
import type { TenantSpec } from '../../crds/tenant.ts';

/** Labels on everything the operator creates for a tenant. */
export const MANAGED_BY = 'weir-operator';
export const TENANT_LABEL = 'weir.dev/tenant';

/** The namespace the operator's own components run in unless configured otherwise; tenant workloads admit traffic from it. */
export const DEFAULT_PLATFORM_NAMESPACE = 'weir-system';

/** Secret in the tenant namespace with the generated credentials. */
export const CREDENTIALS_SECRET = 'weir-credentials';

/** Finalizer that holds a Tenant until its Redis user and Postgres role and schema are gone. */
export const TENANT_FINALIZER = 'weir.dev/tenant-backends';

/** Annotation that lets go of the finalizer when a backend is gone for good. */
export const RELEASE_ANNOTATION = 'weir.dev/release-finalizer';

/** The namespace a tenant owns. */
export function tenantNamespace(name: string, spec: Pick<TenantSpec, 'namespace'>): string {
  return spec.namespace ?? `tenant-${name}`;
}

/** Prefix of every Kafka topic of the tenant. */
export function topicPrefix(namespace: string): string {
  return `weir.${namespace}.`;
}

/** Labels of a tenant's objects. */
export function tenantLabels(tenant: string): Record<string, string> {
  return { 'app.kubernetes.io/managed-by': MANAGED_BY, 'app.kubernetes.io/part-of': 'weir', [TENANT_LABEL]: tenant };
}
