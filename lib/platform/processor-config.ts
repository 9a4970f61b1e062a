/**
 * The processor's compiled configuration: the one schema of the JSON the operator writes
 * into a pipeline's ConfigMap and the processor reads back. The operator serializes through
 * {@link serializeProcessorConfig}, which checks against this schema, so it can never write
 * what the processor would refuse; the pipeline spec inside is checked with the same zod
 * schema the Pipeline CRD is generated from.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { Errors, weirError } from '../errors/errors.ts';

const Name = z.string().min(1).max(253);
const TopicName = z.string().min(1).max(249);

/** `host:port`, the host a name, an IPv4 address or a bracketed IPv6 address. */
const HostPort = z.string().regex(/^([^\s:[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, 'must be host:port');

/** The compiled configuration of one pipeline's processor. */
export const ProcessorConfig = z
  .object({
    pipeline: z.object({ namespace: Name, name: Name }),
    consumerGroup: z.string().min(1).max(255),
    kafka: z.object({
      bootstrapServers: z.array(HostPort).min(1),
      /** Set when the pipeline's tenant connects as its own SCRAM user; the credentials come from the environment. */
      sasl: z.object({ mechanism: z.enum(['SCRAM-SHA-256', 'SCRAM-SHA-512']) }).optional(),
      tls: z.boolean().optional(),
    }),
    /** The pipeline's topics by role; Output only while `spec.sinks.topic.enabled`. */
    topics: z.object({
      Input: TopicName,
      Retry: TopicName,
      DeadLetter: TopicName,
      Changelog: TopicName,
      Output: TopicName.optional(),
    }),
    /** The tenant the pipeline belongs to: its Redis keys and Postgres schema, and what of its data must be masked. */
    tenant: z.object({
      name: Name,
      piiFields: z.array(z.string().min(1).max(256)).max(64).default([]),
    }),
    spec: PipelineSpec,
  })
  .refine((c) => (c.topics.Output !== undefined) === c.spec.sinks.topic.enabled, {
    message: 'topics.Output must be set exactly when spec.sinks.topic.enabled is true',
    path: ['topics', 'Output'],
  });

export type ProcessorConfig = z.output<typeof ProcessorConfig>;
/** What the operator builds: defaults of the spec may still be missing. */
export type ProcessorConfigInput = z.input<typeof ProcessorConfig>;

/** `kafka.bootstrapServers[0]` for the path of a zod issue. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(root)';
}

/** Checks parsed JSON against the schema; throws an InvalidConfig error naming each bad field. */
export function parseProcessorConfig(raw: unknown, source = 'the configuration'): ProcessorConfig {
  const result = ProcessorConfig.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${fieldPath(issue.path)}: ${issue.message}`);
  throw weirError(Errors.InvalidConfig, `${source} is invalid: ${problems.join('; ')}`);
}

/** The configuration as the ConfigMap holds it; throws like {@link parseProcessorConfig} if it is invalid. */
export function serializeProcessorConfig(config: ProcessorConfigInput): string {
  return JSON.stringify(parseProcessorConfig(config, 'the compiled processor configuration'), null, 2);
}

/** Reads and checks the configuration file the operator mounted (WEIR_PIPELINE_CONFIG). */
export function loadProcessorConfig(path: string): ProcessorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw weirError(Errors.InvalidConfig, `cannot read the configuration ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw weirError(Errors.InvalidConfig, `the configuration ${path} is not JSON: ${(err as Error).message}`);
  }
  return parseProcessorConfig(raw, `the configuration ${path}`);
}
