/**
 * A Pipeline's schema, compiled by the operator exactly as the gateway compiles it
 * (lib/schema): an inline JSON Schema, one from a ConfigMap key, or a protobuf message type
 * from a descriptor set. One that does not compile is reported in `SchemaReady` with the
 * compiler's error, and the pipeline's processor does not start with it.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { errorSummary } from '../../lib/errors/errors.ts';
import type { ConditionUpdate } from '../../lib/kube/conditions.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { jsonSchema, protobufSchema } from '../../lib/schema/event-schema.ts';
import type { PipelineObject } from './reconciler.ts';

export const SchemaReason = {
  NoSchema: 'NoSchema',
  Compiled: 'Compiled',
  InvalidSchema: 'InvalidSchema',
  SchemaNotFound: 'SchemaNotFound',
} as const;

type ConfigMap = KubernetesObject & { data?: Record<string, string>; binaryData?: Record<string, string> };

/** Compiles the schema; resolves with the SchemaReady condition. */
export async function schemaPart(
  client: Pick<KubeClient, 'read'>,
  pipeline: PipelineObject,
  signal?: AbortSignal,
): Promise<ConditionUpdate> {
  const spec = pipeline.spec.schema;
  const namespace = pipeline.metadata!.namespace!;
  if (!spec)
    return {
      type: 'SchemaReady',
      status: 'True',
      reason: SchemaReason.NoSchema,
      message: 'no schema: events may be any JSON object',
    };
  const key = async (
    ref: { name: string; key: string },
    field: 'data' | 'binaryData',
  ): Promise<string | ConditionUpdate> => {
    const cm = await client.read<ConfigMap>(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace, name: ref.name } },
      { signal },
    );
    const value = cm?.[field]?.[ref.key];
    if (value !== undefined) return value;
    const message = cm
      ? `ConfigMap ${namespace}/${ref.name} has no ${field} key ${ref.key}`
      : `ConfigMap ${namespace}/${ref.name} does not exist`;
    return { type: 'SchemaReady', status: 'False', reason: SchemaReason.SchemaNotFound, message };
  };
  try {
    if (spec.jsonSchema) jsonSchema(spec.version, spec.jsonSchema);
    else if (spec.configMapRef) {
      const text = await key(spec.configMapRef, 'data');
      if (typeof text !== 'string') return text;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new Error(
          `ConfigMap ${namespace}/${spec.configMapRef.name} key ${spec.configMapRef.key} is not JSON: ${(err as Error).message}`,
        );
      }
      jsonSchema(spec.version, parsed);
    } else if (spec.protobuf) {
      const base64 = await key(spec.protobuf.descriptorRef, 'binaryData');
      if (typeof base64 !== 'string') return base64;
      protobufSchema(spec.version, Buffer.from(base64, 'base64'), spec.protobuf.messageType);
    }
  } catch (err) {
    return { type: 'SchemaReady', status: 'False', reason: SchemaReason.InvalidSchema, message: errorSummary(err) };
  }
  return {
    type: 'SchemaReady',
    status: 'True',
    reason: SchemaReason.Compiled,
    message: `schema version ${spec.version} compiles`,
  };
}
