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
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import { anyObject, jsonSchema, protobufSchema, type EventSchema } from '../../lib/schema/event-schema.ts';
import type { PipelineRoute } from './routing-table.ts';

/** Reads one key of a ConfigMap in a namespace: text from `data`, bytes from `binaryData`. */
export type ConfigMapReader = (
  namespace: string,
  name: string,
) => Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> } | undefined>;

/** How long a schema that could not be loaded is not tried again. */
const RETRY_MS = 5_000;

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
  #fingerprints = new WeakMap<object, string>();

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
    const fingerprint = this.#fingerprintOf(spec);
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

  /**
   * The spec's digest, once per spec object: a Pipeline's update brings a new object, and
   * hashing on every request was 5 % of the gateway's CPU in bench:gateway's profile.
   */
  #fingerprintOf(spec: object): string {
    let fingerprint = this.#fingerprints.get(spec);
    if (fingerprint === undefined) {
      fingerprint = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
      this.#fingerprints.set(spec, fingerprint);
    }
    return fingerprint;
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
