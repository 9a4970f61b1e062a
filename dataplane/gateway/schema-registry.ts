/**
 * Each pipeline's schema, compiled once per version: JSON Schema (draft 2020-12) with ajv,
 * inline or from a ConfigMap key; or a protobuf message type from a FileDescriptorSet in a
 * ConfigMap, decoded by protobufjs. A pipeline without a schema accepts any JSON object.
 *
 * Versions a pipeline had since the gateway started stay compiled, so an event that names
 * the version it was written for (`Weir-Schema-Version`) is checked against that version
 * while clients move to a new one. Schemas are compiled each on their own: one tenant's
 * `$id` can neither clash with nor be `$ref`erenced by another tenant's schema.
 */
import { createHash } from 'node:crypto';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import protobuf from 'protobufjs';
// Adds Root.fromDescriptor to protobufjs.
import 'protobufjs/ext/descriptor/index.js';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { EventProblem } from './request-body.ts';
import type { PipelineRoute } from './routing-table.ts';

/** Reads one key of a ConfigMap in a namespace: text from `data`, bytes from `binaryData`. */
export type ConfigMapReader = (
  namespace: string,
  name: string,
) => Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> } | undefined>;

/** A compiled schema. */
export interface EventSchema {
  version: number;
  /** Problems of an event, with pointers into the event; empty when it is valid. */
  validate(event: Record<string, unknown>): EventProblem[];
  /** For protobuf schemas: the event a binary message encodes, as JSON. */
  decode?(bytes: Buffer): Record<string, unknown>;
}

/** Most problems reported for one event. */
export const MAX_PROBLEMS = 50;

/** How long a schema that could not be loaded is not tried again. */
const RETRY_MS = 5_000;

const anyObject: EventSchema = { version: 0, validate: () => [] };

/** An ajv error as a problem: the pointer names the missing or extra property itself. */
export function problemOfAjvError(e: ErrorObject): EventProblem {
  const escape = (p: string) => p.replaceAll('~', '~0').replaceAll('/', '~1');
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && params.missingProperty)
    return { pointer: `${e.instancePath}/${escape(params.missingProperty)}`, message: 'is required' };
  if (e.keyword === 'additionalProperties' && params.additionalProperty)
    return {
      pointer: `${e.instancePath}/${escape(params.additionalProperty)}`,
      message: 'is not allowed by the schema',
    };
  return { pointer: e.instancePath, message: e.message ?? e.keyword };
}

function jsonSchema(version: number, schema: unknown): EventSchema {
  // A fresh instance per schema keeps tenants' $ids apart; the compiled function is all that is kept.
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: true });
  // ajv-formats is CommonJS: its function is the module itself and its `default`.
  (formats as unknown as { default: (a: Ajv2020) => void }).default(ajv);
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema as object);
  } catch (err) {
    throw weirError(
      Errors.InvalidConfig,
      `the pipeline's JSON Schema (version ${version}) does not compile: ${(err as Error).message}`,
    );
  }
  return {
    version,
    validate(event) {
      if (validate(event)) return [];
      return (validate.errors ?? []).slice(0, MAX_PROBLEMS).map(problemOfAjvError);
    },
  };
}

function protobufSchema(version: number, descriptorSet: Buffer, messageType: string): EventSchema {
  let type: protobuf.Type;
  try {
    const root = (protobuf.Root as unknown as { fromDescriptor(b: Buffer): protobuf.Root }).fromDescriptor(
      descriptorSet,
    );
    type = root.lookupType(messageType);
  } catch (err) {
    throw weirError(
      Errors.InvalidConfig,
      `the pipeline's protobuf descriptor has no usable ${messageType}: ${(err as Error).message}`,
    );
  }
  const asJson = (message: protobuf.Message) =>
    type.toObject(message, { longs: String, enums: String, bytes: String, defaults: false }) as Record<string, unknown>;
  return {
    version,
    validate(event) {
      const problem = type.verify(event);
      return problem ? [{ pointer: '', message: `is not a ${messageType}: ${problem}` }] : [];
    },
    decode(bytes) {
      try {
        return asJson(type.decode(bytes));
      } catch (err) {
        throw weirError(Errors.InvalidEvent, `the body is not a ${messageType}: ${(err as Error).message}`, {
          details: { errors: [{ pointer: '', message: `is not a ${messageType}` }] },
        });
      }
    },
  };
}

interface Loaded {
  /** What the schema was compiled from; a change without a new version still compiles again. */
  fingerprint: string;
  schema: Promise<EventSchema>;
  resolved?: EventSchema;
  failedAt?: number;
}

/** Compiled schemas of every pipeline, by pipeline and version. */
export class SchemaRegistry {
  #readConfigMap: ConfigMapReader;
  #log: Logger;
  #now: () => number;
  #loaded = new Map<string, Map<number, Loaded>>();

  constructor(options: { readConfigMap: ConfigMapReader; log: Logger; now: () => number }) {
    this.#readConfigMap = options.readConfigMap;
    this.#log = options.log;
    this.#now = options.now;
  }

  /**
   * The schema events of the route must satisfy: its current version, or the one the event
   * names if this gateway has compiled that version. Rejects with InvalidEvent for an unknown
   * version, InvalidConfig for a schema that does not compile, NotReady while a ConfigMap
   * cannot be read.
   */
  async schemaFor(route: PipelineRoute, requestedVersion?: number): Promise<EventSchema> {
    const spec = route.schema;
    if (!spec) {
      if (requestedVersion !== undefined)
        throw weirError(Errors.InvalidEvent, `pipeline ${route.key} has no schema, so no version ${requestedVersion}`);
      return anyObject;
    }
    const versions = this.#loaded.get(route.key) ?? new Map<number, Loaded>();
    this.#loaded.set(route.key, versions);
    if (requestedVersion !== undefined && requestedVersion !== spec.version) {
      const older = versions.get(requestedVersion);
      if (!older)
        throw weirError(
          Errors.InvalidEvent,
          `schema version ${requestedVersion} of pipeline ${route.key} is not known; the current version is ${spec.version}`,
        );
      return older.resolved ?? older.schema;
    }
    const fingerprint = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
    let current = versions.get(spec.version);
    const stale =
      current &&
      (current.fingerprint !== fingerprint ||
        (current.failedAt !== undefined && this.#now() - current.failedAt > RETRY_MS));
    if (!current || stale) {
      const loaded: Loaded = { fingerprint, schema: this.#compile(route) };
      loaded.schema.then(
        (schema) => (loaded.resolved = schema),
        () => (loaded.failedAt = this.#now()),
      );
      versions.set(spec.version, loaded);
      current = loaded;
    }
    return current.resolved ?? current.schema;
  }

  /** Forgets pipelines that are gone. */
  retain(keys: Set<string>): void {
    for (const key of this.#loaded.keys()) if (!keys.has(key)) this.#loaded.delete(key);
  }

  async #compile(route: PipelineRoute): Promise<EventSchema> {
    const spec = route.schema!;
    try {
      if (spec.jsonSchema) return jsonSchema(spec.version, spec.jsonSchema);
      if (spec.configMapRef) {
        const text = await this.#key(route.namespace, spec.configMapRef.name, spec.configMapRef.key, 'data');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw weirError(
            Errors.InvalidConfig,
            `ConfigMap ${route.namespace}/${spec.configMapRef.name} key ${spec.configMapRef.key} is not JSON`,
          );
        }
        return jsonSchema(spec.version, parsed);
      }
      const ref = spec.protobuf!.descriptorRef;
      const base64 = await this.#key(route.namespace, ref.name, ref.key, 'binaryData');
      return protobufSchema(spec.version, Buffer.from(base64, 'base64'), spec.protobuf!.messageType);
    } catch (err) {
      this.#log.warn({ pipeline: route.key, err: { message: (err as Error).message } }, 'schema unusable');
      throw err;
    }
  }

  async #key(namespace: string, name: string, key: string, field: 'data' | 'binaryData'): Promise<string> {
    let configMap;
    try {
      configMap = await this.#readConfigMap(namespace, name);
    } catch (err) {
      throw weirError(Errors.NotReady, `the schema's ConfigMap ${namespace}/${name} cannot be read`, { cause: err });
    }
    const value = configMap?.[field]?.[key];
    if (value === undefined)
      throw weirError(
        Errors.NotReady,
        `ConfigMap ${namespace}/${name} has no ${field} key ${key} for the pipeline's schema`,
      );
    return value;
  }
}
