/**
 * Tenant: a customer of the platform, cluster-scoped. It gives the customer a namespace,
 * quotas, network isolation, RBAC for its owners, a Redis ACL user, a Postgres role and
 * schema, and a Kafka topic prefix.
 */
import { z } from 'zod';
import { listMap, listSet, validated } from './cel.ts';
import { boundedDuration, Cidr, Conditions, DnsLabel, HttpUrl, JsonPointer, Quantity } from './fields.ts';
import type { KindDefinition } from './kind-definition.ts';

export const TenantOwner = validated(
  z.object({
    kind: z.enum(['User', 'Group', 'ServiceAccount']).describe('Kind of subject: User, Group or ServiceAccount.'),
    name: z.string().min(1).max(253).describe('Name of the user, group or service account.'),
    namespace: DnsLabel.optional().describe('Namespace of the service account; only for kind ServiceAccount.'),
  }),
  {
    rule: "self.kind == 'ServiceAccount' ? has(self.namespace) : !has(self.namespace)",
    message: 'namespace is required for a ServiceAccount owner and not allowed for users and groups',
  },
);

export const TenantQuotas = z
  .object({
    eventsPerSecond: z
      .int()
      .min(1)
      .max(10_000_000)
      .default(1000)
      .describe('Events per second the gateways accept for the tenant, over all its pipelines.'),
    bytesPerSecond: z
      .int()
      .min(1024)
      .default(10 * 1024 * 1024)
      .describe('Bytes per second the gateways accept for the tenant.'),
    webSocketConnections: z
      .int()
      .min(0)
      .max(1_000_000)
      .default(1000)
      .describe('Concurrent WebSocket connections across all gateways.'),
    pipelines: z.int().min(0).max(1000).default(10).describe('How many Pipelines the tenant may have.'),
    configMaps: z
      .int()
      .min(4)
      .max(10_000)
      .default(100)
      .describe(
        "ConfigMaps the tenant namespace may hold, the processors' configurations and the namespace's root CA included.",
      ),
    secrets: z
      .int()
      .min(2)
      .max(10_000)
      .default(50)
      .describe('Secrets the tenant namespace may hold, its credentials Secret included.'),
    postgresConnections: z
      .int()
      .min(1)
      .max(1000)
      .default(20)
      .describe("Concurrent sessions the tenant's Postgres role may hold (its processors and serving share them)."),
    partitions: z
      .int()
      .min(1)
      .max(100_000)
      .default(64)
      .describe("Total Kafka partitions over all the tenant's topics."),
    maxRetention: boundedDuration('1m', '8760h')
      .default('168h')
      .describe('Longest retention a Pipeline of the tenant may ask for.'),
    cpu: Quantity.default('8').describe('CPU the tenant namespace may request in total (ResourceQuota requests.cpu).'),
    memory: Quantity.default('16Gi').describe(
      'Memory the tenant namespace may request in total (ResourceQuota requests.memory).',
    ),
  })
  .prefault({})
  .describe('Limits enforced by the gateways, the operator and a ResourceQuota in the tenant namespace.');

export const TokenIssuer = validated(
  z.object({
    issuer: HttpUrl.describe('Expected iss claim of accepted tokens.'),
    audiences: listSet(z.array(z.string().min(1).max(256)).min(1).max(16)).describe(
      'Accepted aud values; a token must carry at least one.',
    ),
    jwksUrl: HttpUrl.optional().describe("URL of the issuer's JSON Web Key Set."),
    jwks: z
      .string()
      .max(65536)
      .optional()
      .describe('Inline JSON Web Key Set, for issuers without a reachable JWKS URL.'),
    tenantClaim: z.string().max(256).default('tenant').describe('Claim whose value must equal the tenant name.'),
  }),
  { rule: 'has(self.jwksUrl) != has(self.jwks)', message: 'exactly one of jwksUrl and jwks must be set' },
);

export const TenantAuth = z
  .object({
    issuers: listMap(z.array(TokenIssuer).max(8), 'issuer').describe(
      'OAuth2/OIDC issuers whose JWTs the gateways accept for this tenant.',
    ),
  })
  .describe('Who may send events on behalf of the tenant.');

export const TenantNetwork = z
  .object({
    allowNamespaces: listSet(z.array(DnsLabel).max(64))
      .optional()
      .describe("Namespaces, besides the platform namespace, whose pods may reach the tenant's workloads."),
    allowCidrs: listSet(z.array(Cidr).max(64))
      .optional()
      .describe("Networks outside the cluster that may reach the tenant's workloads."),
  })
  .describe('Ingress allowed into the tenant namespace; everything else is denied by NetworkPolicy.');

export const TenantDataPolicy = z
  .object({
    piiFields: listSet(z.array(JsonPointer).max(64))
      .optional()
      .describe('Event fields that hold personal data; they are masked before storage and serving.'),
    retentionDays: z.int().min(1).max(3650).default(30).describe('Days stored events and aggregates are kept.'),
  })
  .describe("How the tenant's data is handled.");

export const TenantSpec = validated(
  z.object({
    displayName: z.string().max(256).optional().describe('Human-readable name of the customer.'),
    namespace: validated(
      DnsLabel,
      { rule: 'self == oldSelf', message: 'namespace is immutable' },
      {
        rule: "!(self == 'default' || self.startsWith('kube-') || self == 'weir-system')",
        message: 'must not be default, a kube- namespace or weir-system: those belong to the cluster and the platform',
      },
    )
      .optional()
      .describe('Namespace the tenant owns; defaults to tenant-<name>. Cannot be changed.'),
    owners: z
      .array(TenantOwner)
      .min(1)
      .max(32)
      .describe('Subjects that may manage Weir resources in the tenant namespace.'),
    quotas: TenantQuotas,
    auth: TenantAuth.optional(),
    network: TenantNetwork.optional(),
    dataPolicy: TenantDataPolicy.prefault({}),
    regions: listSet(z.array(DnsLabel).max(16))
      .optional()
      .describe('Regions the tenant runs in; defaults to the default Region.'),
    deletionPolicy: z
      .enum(['Delete', 'Retain'])
      .default('Delete')
      .describe(
        'Whether the Redis user and the Postgres role and schema are removed (Delete) or kept (Retain) when the Tenant is deleted.',
      ),
  }),
  {
    rule: 'has(self.namespace) == has(oldSelf.namespace)',
    message: 'namespace cannot be added or removed after creation',
    fieldPath: '.namespace',
  },
);

export const TenantStatus = z.object({
  observedGeneration: z.int().min(0).optional().describe('The metadata.generation the status was computed from.'),
  phase: z
    .enum(['Pending', 'Provisioning', 'Ready', 'Degraded', 'Terminating'])
    .optional()
    .describe('Summary of where the tenant stands.'),
  conditions: Conditions.optional(),
  namespace: z.string().max(63).optional().describe('Namespace the tenant owns.'),
  topicPrefix: z.string().max(128).optional().describe('Prefix of every Kafka topic of the tenant.'),
  redisUser: z.string().max(128).optional().describe('Redis ACL user of the tenant.'),
  redisKeyPrefix: z.string().max(128).optional().describe('Prefix of every Redis key the tenant may touch.'),
  postgresRole: z.string().max(63).optional().describe('Postgres role of the tenant.'),
  postgresSchema: z.string().max(63).optional().describe('Postgres schema only the tenant role can use.'),
  credentialsSecret: z
    .string()
    .max(253)
    .optional()
    .describe('Secret in the tenant namespace that holds the generated credentials.'),
  region: z
    .string()
    .max(63)
    .optional()
    .describe("Region the tenant's backends were created in; they are used and cleaned up there."),
});

export type TenantSpec = z.output<typeof TenantSpec>;
export type TenantStatus = z.output<typeof TenantStatus>;

/** The longest tenant name: `tenant-<name>` must be a DNS label of at most 63 characters. */
export const MAX_TENANT_NAME = 56;

const TENANT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Throws unless `tenant` is a name the API admits for a Tenant. Adapters call it before a
 * name goes into SQL or ACL rules, whatever admission already checked.
 */
export function assertTenantName(tenant: unknown): asserts tenant is string {
  if (typeof tenant !== 'string' || tenant.length > MAX_TENANT_NAME || !TENANT_NAME.test(tenant)) {
    throw new TypeError(
      `invalid tenant name ${JSON.stringify(tenant)}: must be a DNS label of at most ${MAX_TENANT_NAME} characters`,
    );
  }
}

export const tenantDefinition: KindDefinition = {
  kind: 'Tenant',
  plural: 'tenants',
  singular: 'tenant',
  shortNames: ['wtn'],
  scope: 'Cluster',
  description:
    'A customer of the Weir platform: an isolated namespace, quotas, network policy, RBAC, a Redis ACL user, a Postgres schema and a Kafka topic prefix.',
  spec: TenantSpec.describe('Desired state of the tenant.'),
  status: TenantStatus.describe('Observed state of the tenant.'),
  nameRule: {
    maxLength: MAX_TENANT_NAME,
    rule: {
      rule: "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
      message: `must be a DNS label of at most ${MAX_TENANT_NAME} characters (no dots): it becomes the namespace tenant-<name> and the prefix of Kafka topics, Redis keys and Postgres names`,
    },
  },
  printerColumns: [
    { name: 'Tenant Namespace', type: 'string', jsonPath: '.status.namespace' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    {
      name: 'Pipelines',
      type: 'integer',
      jsonPath: '.spec.quotas.pipelines',
      description: 'Pipelines the tenant may have.',
      priority: 1,
    },
    {
      name: 'Events/s',
      type: 'integer',
      jsonPath: '.spec.quotas.eventsPerSecond',
      description: 'Events per second the gateways accept.',
      priority: 1,
    },
  ],
};
