/**
 * The processor's configuration: the JSON the operator compiles into the pipeline's
 * ConfigMap (see operator/pipeline/desired-workloads.ts `compiledConfig`), checked with
 * the same zod schema the Pipeline CRD is generated from, so a processor never runs on a
 * configuration it does not understand.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PipelineSpec, TopicRoles } from '../../crds/pipeline.ts';

const Name = z.string().min(1).max(253);

/** The compiled configuration of one pipeline's processor. */
export const ProcessorConfig = z.object({
  pipeline: z.object({ namespace: Name, name: Name }),
  consumerGroup: z.string().min(1).max(255),
  kafka: z.object({ bootstrapServers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')).min(1) }),
  topics: z.object(Object.fromEntries(TopicRoles.map((role) => [role, z.string().min(1).max(249)])) as Record<(typeof TopicRoles)[number], z.ZodString>),
  spec: PipelineSpec,
});

export type ProcessorConfig = z.output<typeof ProcessorConfig>;

/** The configuration could not be read or does not match {@link ProcessorConfig}; the message names the file and every bad field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `kafka.bootstrapServers[0]` for the path of a zod issue. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(root)';
}

/** Checks parsed JSON against the schema; throws a {@link ConfigError} naming each bad field. */
export function parseProcessorConfig(raw: unknown, source = 'the configuration'): ProcessorConfig {
  const result = ProcessorConfig.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${fieldPath(issue.path)}: ${issue.message}`);
  throw new ConfigError(`${source} is invalid: ${problems.join('; ')}`);
}

/** Reads and checks the configuration file the operator mounted (WEIR_PIPELINE_CONFIG). */
export function loadProcessorConfig(path: string): ProcessorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the configuration ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the configuration ${path} is not JSON: ${(err as Error).message}`);
  }
  return parseProcessorConfig(raw, `the configuration ${path}`);
}
