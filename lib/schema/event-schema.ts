/**
 * Compiling a pipeline's event schema, the one way the operator (which reports a schema that
 * does not compile) and the gateway (which validates every event against it) both do it:
 * JSON Schema (draft 2020-12) with ajv, each schema on its own ajv so one tenant's `$id`
 * can neither clash with nor be `$ref`erenced by another's; or a protobuf message type from a
 * FileDescriptorSet, decoded by protobufjs.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import protobuf from 'protobufjs';
// Adds Root.fromDescriptor to protobufjs.
import 'protobufjs/ext/descriptor/index.js';
import { Errors, weirError } from '../errors/errors.ts';

/** One problem of an event: a JSON pointer into it, and what is wrong there. */
export interface EventProblem {
  pointer: string;
  message: string;
}

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

/** What a pipeline without a schema accepts: any JSON object. */
export const anyObject: EventSchema = { version: 0, validate: () => [] };

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

export function jsonSchema(version: number, schema: unknown): EventSchema {
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

export function protobufSchema(version: number, descriptorSet: Buffer, messageType: string): EventSchema {
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
