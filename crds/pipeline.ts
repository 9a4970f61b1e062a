/**
 * Pipeline: one stream of a tenant and what happens to it — its Kafka topics, schema,
 * enrichment, windowed aggregations, sinks, engine, scaling and failure handling.
 */
import { z } from 'zod';
import { immutable, isDurationExpr, listMap, listSet, validated } from './cel.ts';
import { boundedDuration, ConfigMapKeyRef, Conditions, Duration, Identifier, JsonPointer } from './fields.ts';
import type { KindDefinition } from './kind-definition.ts';

export const PipelineSource = z
  .object({
    partitions: validated(
      z
        .int()
        .min(1)
        .max(1000)
        .default(6)
        .describe('Partitions of the input topic (and of the retry and dead-letter topics). Can only grow.'),
      {
        rule: 'self >= oldSelf',
        message: 'partitions can only grow: Kafka cannot remove partitions from a topic',
      },
    ),
    replicationFactor: validated(
      z.int().min(1).max(7).default(1).describe('Replicas of every partition. Cannot be changed.'),
      immutable('replicationFactor'),
    ),
    retention: boundedDuration('1m', '8760h').default('168h').describe('How long the input topic keeps events.'),
    partitionKey: JsonPointer.optional().describe(
      'JSON pointer to the event field that picks the partition; events with the same value keep their order. Without it, events are spread over partitions by tenant.',
    ),
    ingestion: z
      .object({
        rest: z.boolean().default(true).describe('Accept events by HTTP POST.'),
        webSocket: z.boolean().default(false).describe('Accept events over WebSocket connections.'),
        grpc: z.boolean().default(false).describe('Accept events over gRPC streams.'),
      })
      .prefault({})
      .describe('Which gateway endpoints accept events for this pipeline.'),
    adoptExistingTopics: z
      .boolean()
      .default(false)
      .describe('Take over topics of the computed names that already exist instead of reporting a conflict.'),
  })
  .prefault({})
  .describe('The input topic and how events reach it.');

export const PipelineSchema = validated(
  z.object({
    jsonSchema: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Inline JSON Schema (draft 2020-12) every event must satisfy.'),
    configMapRef: ConfigMapKeyRef.optional().describe('A ConfigMap key holding the JSON Schema.'),
    protobuf: z
      .object({
        descriptorRef: ConfigMapKeyRef.describe('A ConfigMap key holding a serialized FileDescriptorSet (binaryData).'),
        messageType: z.string().min(1).max(512).describe('Fully qualified message type, such as shop.v1.Click.'),
      })
      .optional()
      .describe('Protocol Buffers message type events are encoded with.'),
    version: z.int().min(1).default(1).describe('Version of the schema; raise it with every change.'),
    compatibility: z
      .enum(['Backward', 'Forward', 'Full', 'None'])
      .default('Backward')
      .describe(
        'Which events of the previous version the new version must accept: Backward (new readers read old events), Forward, Full or None.',
      ),
  }),
  {
    rule: '[has(self.jsonSchema), has(self.configMapRef), has(self.protobuf)].filter(x, x).size() == 1',
    message: 'exactly one of jsonSchema, configMapRef and protobuf must be set',
  },
);

export const CacheSettings = validated(
  z
    .object({
      l1Ttl: boundedDuration('0s', '24h').default('30s').describe('How long a lookup stays in the in-process cache.'),
      l1MaxEntries: z
        .int()
        .min(0)
        .max(10_000_000)
        .default(10_000)
        .describe('Entries the in-process cache holds; 0 disables it.'),
      l2Ttl: boundedDuration('0s', '168h')
        .default('5m')
        .describe('How long a lookup stays in the Redis cache; 0s disables it.'),
    })
    .prefault({}),
  {
    rule: `!${isDurationExpr('self.l1Ttl')} || !${isDurationExpr('self.l2Ttl')} || duration(self.l2Ttl) == duration('0s') || duration(self.l1Ttl) <= duration(self.l2Ttl)`,
    message: 'l1Ttl must not exceed l2Ttl: the in-process cache would serve values Redis already expired',
    fieldPath: '.l1Ttl',
  },
);

export const Enrichment = validated(
  z.object({
    name: Identifier.describe('Name of the enrichment, unique in the pipeline.'),
    key: JsonPointer.describe('JSON pointer to the event field whose value is looked up.'),
    into: Identifier.describe('Top-level field of the event that receives the looked-up record.'),
    postgres: z
      .object({
        table: Identifier.describe('Table in the tenant schema.'),
        keyColumn: Identifier.describe('Column compared with the key.'),
      })
      .optional()
      .describe('Look the key up in a Postgres table of the tenant schema.'),
    redis: z
      .object({
        hashPrefix: z
          .string()
          .min(1)
          .max(128)
          .describe('Prefix, inside the tenant key space, of the Redis hashes to read; the key is appended.'),
      })
      .optional()
      .describe('Look the key up as a Redis hash of the tenant.'),
    cache: CacheSettings.describe('L1 (in-process) and L2 (Redis) caching of lookups; Postgres is L3.'),
    onMiss: z
      .enum(['Skip', 'DeadLetter'])
      .default('Skip')
      .describe(
        'What happens to an event whose key is not found: Skip leaves the field unset, DeadLetter sends the event to the dead-letter topic.',
      ),
  }),
  { rule: 'has(self.postgres) != has(self.redis)', message: 'exactly one of postgres and redis must be set' },
);

export const MeasureTypes = ['Count', 'Sum', 'Avg', 'Min', 'Max', 'Percentiles', 'Distinct', 'Function'] as const;

export const Measure = validated(
  z.object({
    name: Identifier.describe('Name of the measure in the output, unique in the aggregation.'),
    type: z
      .enum(MeasureTypes)
      .describe(
        'Count, Sum, Avg, Min, Max, Percentiles, Distinct (approximate count of distinct values) or Function (a user-defined reducer).',
      ),
    field: JsonPointer.optional().describe(
      'JSON pointer to the numeric (or, for Distinct, any) event field; not used by Count.',
    ),
    percentiles: listSet(z.array(z.number().gt(0).lt(100)).min(1).max(16))
      .optional()
      .describe('Percentiles to compute, each strictly between 0 and 100, such as 50, 95 and 99.9.'),
    function: Identifier.optional().describe('Name of the user-defined reducer, one of spec.functions.'),
  }),
  {
    rule: "self.type == 'Count' || has(self.field)",
    message: 'field is required for every measure type but Count',
    fieldPath: '.field',
    reason: 'FieldValueRequired',
  },
  {
    rule: "(self.type == 'Percentiles') == has(self.percentiles)",
    message: 'percentiles is required for, and only allowed with, type Percentiles',
    fieldPath: '.percentiles',
  },
  {
    rule: "(self.type == 'Function') == has(self.function)",
    message: 'function is required for, and only allowed with, type Function',
    fieldPath: '.function',
  },
);

export const WindowTypes = ['Tumbling', 'Sliding', 'Session'] as const;

export const Window = validated(
  z.object({
    type: z
      .enum(WindowTypes)
      .describe(
        'Tumbling (fixed, non-overlapping), Sliding (fixed size, advancing by slide) or Session (closed after a gap of inactivity). Cannot be changed.',
      ),
    size: boundedDuration('1s', '168h').optional().describe('Length of a tumbling or sliding window; 1s to 168h.'),
    slide: boundedDuration('1s', '168h')
      .optional()
      .describe('How far a sliding window advances; at most size, and at least a thousandth of it.'),
    gap: boundedDuration('1s', '24h').optional().describe('Inactivity that closes a session window; 1s to 24h.'),
  }),
  {
    rule: "self.type != 'Tumbling' || (has(self.size) && !has(self.slide) && !has(self.gap))",
    message: 'a Tumbling window takes size, and neither slide nor gap',
  },
  {
    rule: "self.type != 'Sliding' || (has(self.size) && has(self.slide) && !has(self.gap))",
    message: 'a Sliding window takes size and slide, and no gap',
  },
  {
    rule: "self.type != 'Session' || (has(self.gap) && !has(self.size) && !has(self.slide))",
    message: 'a Session window takes gap, and neither size nor slide',
  },
  {
    rule: `!has(self.size) || !has(self.slide) || !${isDurationExpr('self.size')} || !${isDurationExpr('self.slide')} || duration(self.slide) <= duration(self.size)`,
    message: 'slide must not exceed size',
    fieldPath: '.slide',
  },
  {
    rule: `!has(self.size) || !has(self.slide) || !${isDurationExpr('self.size')} || !${isDurationExpr('self.slide')} || duration(self.size).getSeconds() <= 1000 * duration(self.slide).getSeconds()`,
    message: 'an event may fall into at most 1000 sliding windows: size must not exceed 1000 times slide',
    fieldPath: '.slide',
  },
  {
    rule: 'self.type == oldSelf.type',
    message: 'window type is immutable: add a new aggregation instead',
    fieldPath: '.type',
  },
);

export const Aggregation = validated(
  z.object({
    name: Identifier.describe('Name of the aggregation, unique in the pipeline; names its output.'),
    window: Window.describe('The window events are grouped into.'),
    eventTime: z
      .object({
        field: JsonPointer.describe('JSON pointer to the event-time field (RFC 3339 string or epoch milliseconds).'),
        maxOutOfOrderness: boundedDuration('0s', '24h')
          .default('5s')
          .describe('How far behind the newest event time the watermark trails.'),
        idleTimeout: validated(
          Duration.default('10s').describe(
            'How long a partition may go without events before it stops holding the watermark back; once every partition is idle, event time is taken to advance with the clock, so windows still close. Between 100ms and 1h.',
          ),
          {
            rule: `!${isDurationExpr('self')} || (duration(self) >= duration('100ms') && duration(self) <= duration('1h'))`,
            message: 'idleTimeout must be between 100ms and 1h',
          },
        ),
      })
      .describe('Where event time comes from and how the watermark follows it.'),
    allowedLateness: boundedDuration('0s', '168h')
      .default('0s')
      .describe(
        'How long after the watermark passes a window late events still update it; later ones go to the dead-letter topic.',
      ),
    groupBy: listSet(z.array(JsonPointer).max(8))
      .optional()
      .describe('JSON pointers to the fields results are grouped by.'),
    measures: listMap(z.array(Measure).min(1).max(32), 'name').describe('What is computed for every window and group.'),
  }),
  {
    rule: `!${isDurationExpr('self.allowedLateness')} || duration(self.allowedLateness) <= duration('168h')`,
    message: 'allowedLateness must be at most 168h',
    fieldPath: '.allowedLateness',
  },
);

export const UserFunction = z.object({
  name: Identifier.describe('Name a Function measure refers to.'),
  source: z
    .string()
    .min(1)
    .max(65536)
    .describe(
      'JavaScript source of an expression that evaluates to an object with init(), add(acc, value), merge(a, b) and result(acc); accumulators and results must be JSON values. It runs in a WebAssembly sandbox with no access to the processor, the network or the file system.',
    ),
  timeout: validated(Duration.default('50ms').describe('CPU time one call may take; between 1ms and 1s.'), {
    rule: `!${isDurationExpr('self')} || (duration(self) >= duration('1ms') && duration(self) <= duration('1s'))`,
    message: 'timeout must be between 1ms and 1s',
  }),
  memoryMiB: z.int().min(1).max(64).default(16).describe('Memory the sandbox may allocate, in MiB.'),
});

export const PipelineSinks = z
  .object({
    redis: z
      .object({
        ttl: boundedDuration('1s', '720h').default('24h').describe('How long a window result stays readable in Redis.'),
      })
      .optional()
      .describe('Keep current window results in Redis for low-latency reads.'),
    postgres: z
      .object({ table: Identifier.describe('Table in the tenant schema that receives closed windows.') })
      .optional()
      .describe('Keep the history of closed windows in Postgres.'),
    topic: z
      .object({ enabled: z.boolean().default(true).describe('Write results to the output topic.') })
      .prefault({})
      .describe('The output topic.'),
  })
  .prefault({})
  .describe('Where aggregation results go.');

export const PipelineScaling = validated(
  z
    .object({
      minReplicas: z.int().min(1).max(100).default(1).describe('Fewest processor replicas while Running.'),
      maxReplicas: z
        .int()
        .min(1)
        .max(100)
        .default(4)
        .describe('Most processor replicas; more than the partition count is never useful.'),
      targetLagPerReplica: z.int().min(1).default(1000).describe('Consumer lag per replica the autoscaler aims for.'),
    })
    .prefault({}),
  {
    rule: 'self.minReplicas <= self.maxReplicas',
    message: 'minReplicas must not exceed maxReplicas',
    fieldPath: '.minReplicas',
  },
);

export const PipelineFailure = z
  .object({
    maxRetries: z
      .int()
      .min(0)
      .max(100)
      .default(5)
      .describe('Retries through the retry topic before an event goes to the dead-letter topic.'),
    backoff: validated(
      z
        .object({
          initial: boundedDuration('10ms', '1h').default('1s').describe('Delay before the first retry.'),
          max: boundedDuration('100ms', '24h').default('5m').describe('Longest delay between retries.'),
          multiplier: z.number().min(1).max(10).default(2).describe('Factor the delay grows by after each retry.'),
        })
        .prefault({}),
      {
        rule: `!${isDurationExpr('self.initial')} || !${isDurationExpr('self.max')} || duration(self.initial) <= duration(self.max)`,
        message: 'initial must not exceed max',
        fieldPath: '.initial',
      },
    ).describe('Exponential backoff between retries.'),
  })
  .prefault({})
  .describe('How failed events are retried and where they end up.');

export const PipelineLifecycle = z
  .object({
    desiredPhase: z
      .enum(['Running', 'Paused'])
      .default('Running')
      .describe('Running processes events; Paused scales the processor to zero and keeps the topics.'),
    topicDeletionPolicy: z
      .enum(['Retain', 'Delete'])
      .default('Retain')
      .describe('Whether the topics are kept (Retain) or deleted (Delete) with the Pipeline.'),
  })
  .prefault({})
  .describe('Whether the pipeline runs, and what happens to its data when it is deleted.');

export const PipelineSpec = validated(
  z.object({
    description: z.string().max(1024).optional().describe('What the pipeline is for.'),
    source: PipelineSource,
    schema: PipelineSchema.optional().describe(
      'Schema events are validated against at the gateway; invalid events are rejected with the failing field.',
    ),
    enrich: listMap(z.array(Enrichment).max(16), 'name')
      .optional()
      .describe('Lookups that add context to every event, in order.'),
    aggregate: listMap(z.array(Aggregation).max(16), 'name')
      .optional()
      .describe('Windowed aggregations computed over the enriched events.'),
    sinks: PipelineSinks,
    engine: z
      .enum(['Native', 'Flink'])
      .default('Native')
      .describe(
        'Native runs the built-in processor; Flink submits the same aggregations to a Flink session cluster as Flink SQL.',
      ),
    scaling: PipelineScaling.describe('Processor replicas and the autoscaler target.'),
    failure: PipelineFailure,
    lifecycle: PipelineLifecycle,
    functions: listMap(z.array(UserFunction).max(16), 'name')
      .optional()
      .describe('User-defined reducers that Function measures name.'),
  }),
  {
    rule: "!has(self.aggregate) || self.aggregate.all(a, a.measures.all(m, m.type != 'Function' || (has(self.functions) && self.functions.exists(f, f.name == m.function))))",
    message: 'every Function measure must name a function of spec.functions',
    fieldPath: '.aggregate',
  },
);

/** Changelog holds the processor's window state, compacted, so a restart or rebalance resumes it. */
export const TopicRoles = ['Input', 'Output', 'Retry', 'DeadLetter', 'Changelog'] as const;

export const PipelineStatus = z.object({
  observedGeneration: z.int().min(0).optional().describe('The metadata.generation the status was computed from.'),
  phase: z
    .enum(['Pending', 'Provisioning', 'Running', 'Paused', 'Degraded', 'Failed', 'Terminating'])
    .optional()
    .describe('Summary of where the pipeline stands.'),
  conditions: Conditions.optional(),
  topics: listMap(
    z
      .array(
        z.object({
          role: z.enum(TopicRoles).describe('What the topic is for: Input, Output, Retry, DeadLetter or Changelog.'),
          name: z.string().max(249).describe('Kafka topic name.'),
          partitions: z.int().min(0).optional().describe('Partitions the topic has.'),
          topicId: z.string().max(64).optional().describe('Kafka topic id.'),
        }),
      )
      .max(8),
    'role',
  )
    .optional()
    .describe("The pipeline's Kafka topics."),
  endpoints: z
    .object({
      rest: z.string().max(2048).optional().describe('URL events are POSTed to.'),
      webSocket: z.string().max(2048).optional().describe('WebSocket URL events are sent to.'),
      grpc: z.string().max(2048).optional().describe('gRPC target and method events are streamed to.'),
    })
    .optional()
    .describe('Where the gateways accept events for the pipeline.'),
  replicas: z.int().min(0).optional().describe('Ready processor replicas.'),
  flink: z
    .object({
      jobId: z.string().max(64).optional().describe('Id of the running Flink job.'),
      lastSavepoint: z.string().max(2048).optional().describe('Path of the last savepoint.'),
      jobName: z.string().max(512).optional().describe('Name of the job: weir/<namespace>/<name>@<hash of its SQL>.'),
      jobState: z.string().max(32).optional().describe('State of the job as Flink reports it, such as RUNNING.'),
      stateSignature: z
        .string()
        .max(64)
        .optional()
        .describe(
          'Digest of what the state of the job and of lastSavepoint consists of; a savepoint restores only into a job with the same.',
        ),
      savepointRequest: z
        .string()
        .max(253)
        .optional()
        .describe('The weir.dev/flink-savepoint annotation value the last on-demand savepoint was taken for.'),
      operation: z
        .object({
          kind: z.enum(['Upgrade', 'Suspend', 'Savepoint']).describe('Why the savepoint is taken.'),
          jobId: z.string().max(64).describe('Job the savepoint is taken of.'),
          triggerId: z.string().max(64).describe('Trigger id of the savepoint request.'),
          attempt: z.int().min(1).describe('Attempt of this savepoint, from 1.'),
        })
        .optional()
        .describe('A savepoint in progress.'),
    })
    .optional()
    .describe('The Flink job, when engine is Flink.'),
});

export type PipelineSpec = z.output<typeof PipelineSpec>;
export type PipelineStatus = z.output<typeof PipelineStatus>;

/**
 * The longest pipeline name. It names a Service (a DNS-1035 label of at most 63
 * characters, with `-processor` appended) and Kafka topics `weir.<namespace>.<name>.<role>`,
 * which stay far below Kafka's 249-character limit at this length.
 */
export const MAX_PIPELINE_NAME = 53;

export const pipelineDefinition: KindDefinition = {
  kind: 'Pipeline',
  plural: 'pipelines',
  singular: 'pipeline',
  shortNames: ['wpl'],
  scope: 'Namespaced',
  description:
    'One stream of a tenant and what happens to it: Kafka topics, schema validation, enrichment, windowed aggregation, sinks and the processor that runs them.',
  spec: PipelineSpec.describe('Desired state of the pipeline.'),
  status: PipelineStatus.describe('Observed state of the pipeline.'),
  nameRule: {
    maxLength: MAX_PIPELINE_NAME,
    rule: {
      rule: "self.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
      message: `must be a DNS-1035 label of at most ${MAX_PIPELINE_NAME} characters (a letter first, no dots): it names the pipeline's Kafka topics and its processor Service`,
    },
  },
  printerColumns: [
    { name: 'Engine', type: 'string', jsonPath: '.spec.engine' },
    { name: 'Partitions', type: 'integer', jsonPath: '.spec.source.partitions' },
    { name: 'Desired', type: 'string', jsonPath: '.spec.lifecycle.desiredPhase' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    {
      name: 'Replicas',
      type: 'integer',
      jsonPath: '.status.replicas',
      priority: 1,
      description: 'Ready processor replicas.',
    },
  ],
};
