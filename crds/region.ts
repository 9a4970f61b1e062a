/**
 * Region: where the platform runs and what backs it there — the cluster, Kafka, Redis,
 * Postgres, Flink and object storage endpoints with their credentials, and failover.
 */
import { z } from 'zod';
import { listMap, listSet, validated } from './cel.ts';
import { Conditions, DnsLabel, HostPort, HttpUrl, SecretKeyRef, SecretRef } from './fields.ts';
import type { KindDefinition } from './kind-definition.ts';

export const RegionKafka = z
  .object({
    bootstrapServers: listSet(z.array(HostPort).min(1).max(16)).describe('Brokers to bootstrap from, as host:port.'),
    tls: z
      .object({
        caSecretRef: SecretKeyRef.optional().describe(
          "Secret key holding the PEM CA bundle that signs the brokers' certificates; the system roots otherwise.",
        ),
      })
      .optional()
      .describe('Connect with TLS.'),
    sasl: z
      .object({
        mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).describe('SASL mechanism.'),
        credentialsSecretRef: SecretRef.describe('Secret with keys username and password.'),
      })
      .optional()
      .describe('Authenticate with SASL.'),
  })
  .describe('The Kafka cluster of the region.');

export const RegionRedis = validated(
  z.object({
    mode: z
      .enum(['Standalone', 'Sentinel', 'Cluster'])
      .default('Standalone')
      .describe('Standalone server, Sentinel-managed primary, or Redis Cluster.'),
    endpoints: listSet(z.array(HostPort).min(1).max(16)).describe(
      'Servers (Standalone, Cluster) or sentinels (Sentinel), as host:port.',
    ),
    sentinelMasterName: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe('Name of the primary the sentinels watch; only for Sentinel.'),
    adminCredentialsSecretRef: SecretRef.optional().describe(
      'Secret with keys username and password of a user allowed to manage ACL users.',
    ),
    tls: z.boolean().default(false).describe('Connect with TLS.'),
  }),
  {
    rule: "(self.mode == 'Sentinel') == has(self.sentinelMasterName)",
    message: 'sentinelMasterName is required for, and only allowed with, mode Sentinel',
    fieldPath: '.sentinelMasterName',
  },
);

export const RegionPostgres = z.object({
  primary: HostPort.describe('The primary server, as host:port.'),
  replicas: listSet(z.array(HostPort).max(16))
    .optional()
    .describe('Read replicas, as host:port; read-only queries go there.'),
  pgbouncer: HostPort.optional().describe('PgBouncer in front of the primary; data-plane connections go through it.'),
  database: z.string().min(1).max(63).default('weir').describe('Database that holds the tenant schemas.'),
  sslMode: z.enum(['disable', 'require', 'verify-full']).default('disable').describe('libpq sslmode.'),
  adminCredentialsSecretRef: SecretRef.describe(
    'Secret with keys username and password of a role allowed to create roles and schemas.',
  ),
});

export const RegionFlink = z.object({
  jobManagerUrl: HttpUrl.describe('REST URL of the Flink JobManager.'),
  sqlGatewayUrl: HttpUrl.describe('REST URL of the Flink SQL Gateway.'),
  savepointDirectory: z
    .string()
    .min(1)
    .max(2048)
    .optional()
    .describe('Where savepoints are written, such as s3://bucket/savepoints.'),
});

export const RegionObjectStorage = z.object({
  endpoint: HttpUrl.describe('S3-compatible endpoint.'),
  bucket: z.string().min(3).max(63).describe('Bucket for archives, checkpoints and backups.'),
  region: z.string().max(64).optional().describe('Storage region name, where the endpoint needs one.'),
  credentialsSecretRef: SecretRef.describe('Secret with keys accessKeyId and secretAccessKey.'),
});

export const RegionSpec = z.object({
  default: z
    .boolean()
    .default(false)
    .describe('Tenants that name no region run here. At most one Region should be the default.'),
  cluster: z
    .object({
      kubeconfigSecretRef: SecretKeyRef.optional().describe(
        'Secret key holding a kubeconfig of a remote cluster; without it, the cluster the operator runs in.',
      ),
    })
    .prefault({})
    .describe('The Kubernetes cluster of the region.'),
  failureDomain: z
    .object({
      region: z.string().max(63).optional().describe("Value of topology.kubernetes.io/region for the region's nodes."),
      zones: listSet(z.array(z.string().max(63)).max(16))
        .optional()
        .describe('Values of topology.kubernetes.io/zone the workloads spread over.'),
    })
    .optional()
    .describe('Node labels workloads are placed and spread by.'),
  kafka: RegionKafka,
  redis: RegionRedis.describe('The Redis deployment of the region.'),
  postgres: RegionPostgres.describe('The PostgreSQL deployment of the region.'),
  flink: RegionFlink.optional().describe('The Flink session cluster, for pipelines with engine Flink.'),
  objectStorage: RegionObjectStorage.optional().describe('Object storage of the region.'),
  failover: z
    .object({
      priority: z.int().min(0).max(1000).default(100).describe('Lower is preferred when tenants fail over.'),
      peers: listSet(z.array(DnsLabel).max(16)).optional().describe("Regions that take over this region's tenants."),
    })
    .prefault({})
    .describe('How this region takes part in failover.'),
  mirroring: listMap(
    z
      .array(
        z.object({
          toRegion: DnsLabel.describe('Region the topics are mirrored to.'),
          topics: listSet(z.array(z.string().min(1).max(249)).min(1).max(64)).describe(
            'Topic name prefixes to mirror, such as weir.tenant-acme.',
          ),
        }),
      )
      .max(16),
    'toRegion',
  )
    .optional()
    .describe('Topics mirrored to other regions.'),
});

export const RegionStatus = z.object({
  observedGeneration: z.int().min(0).optional().describe('The metadata.generation the status was computed from.'),
  phase: z.enum(['Pending', 'Ready', 'Degraded']).optional().describe("Summary of the backends' reachability."),
  conditions: Conditions.optional(),
  backends: listMap(
    z
      .array(
        z.object({
          name: z.enum(['Kafka', 'Redis', 'Postgres', 'Flink', 'ObjectStorage']).describe('Which backend.'),
          reachable: z.boolean().describe('Whether the last probe succeeded.'),
          latencyMs: z.number().min(0).optional().describe('Round trip of the last successful probe, in milliseconds.'),
          lastProbeTime: z.string().max(64).optional().describe('When the backend was last probed (RFC 3339).'),
          message: z.string().max(4096).optional().describe('Error of the last failed probe.'),
        }),
      )
      .max(8),
    'name',
  )
    .optional()
    .describe('Reachability of each backend.'),
});

export type RegionSpec = z.output<typeof RegionSpec>;
export type RegionStatus = z.output<typeof RegionStatus>;

export const regionDefinition: KindDefinition = {
  kind: 'Region',
  plural: 'regions',
  singular: 'region',
  shortNames: ['wrg'],
  scope: 'Cluster',
  description:
    'Where the Weir platform runs and what backs it there: the cluster and its Kafka, Redis, Postgres, Flink and object storage.',
  spec: RegionSpec.describe("The region's cluster, backends and failover."),
  status: RegionStatus.describe("Reachability of the region's backends."),
  nameRule: {
    maxLength: 63,
    rule: {
      rule: "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
      message: 'must be a DNS label of at most 63 characters: Tenants and other Regions refer to it by name',
    },
  },
  printerColumns: [
    { name: 'Default', type: 'boolean', jsonPath: '.spec.default' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    {
      name: 'Kafka',
      type: 'string',
      jsonPath: '.spec.kafka.bootstrapServers[0]',
      priority: 1,
      description: 'First Kafka bootstrap server.',
    },
  ],
};
