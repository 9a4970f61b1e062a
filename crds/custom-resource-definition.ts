/**
 * Turns a Weir kind definition into a structural CustomResourceDefinition: zod emits
 * JSON Schema, and this file reshapes it into what the API server accepts and fails
 * loudly on anything that would not be structural.
 */
import { z } from 'zod';
import { API_VERSION, GROUP, VERSION, type KindDefinition } from './kind-definition.ts';

type Schema = Record<string, unknown>;

/** Error thrown when a zod schema cannot become a structural CRD schema. */
export class SchemaConversionError extends Error {}

const UNSUPPORTED = ['$ref', 'anyOf', 'oneOf', 'allOf', 'not', 'nullable', 'const', '$defs', 'definitions'];

function isObject(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reshapes zod's OpenAPI 3.0 output in place: free-form maps become
 * x-kubernetes-preserve-unknown-fields, zod's safe-integer bounds go, and every
 * property must carry a description so that `kubectl explain` is useful.
 */
function toStructural(schema: Schema, path: string, requireDescription: boolean): Schema {
  for (const key of UNSUPPORTED) {
    if (key in schema)
      throw new SchemaConversionError(`${path}: '${key}' cannot be expressed in a structural CRD schema`);
  }
  delete schema.$schema;
  if (requireDescription && typeof schema.description !== 'string') {
    throw new SchemaConversionError(`${path}: field has no description`);
  }
  if (schema.type === 'integer') {
    if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
    if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
    schema.format ??= 'int64';
  }
  if (schema.type === 'object') {
    if (schema.additionalProperties === false) delete schema.additionalProperties;
    if (isObject(schema.additionalProperties) && Object.keys(schema.additionalProperties).length === 0) {
      delete schema.additionalProperties;
      schema['x-kubernetes-preserve-unknown-fields'] = true;
    }
    if (isObject(schema.properties)) {
      for (const [name, child] of Object.entries(schema.properties)) {
        if (!isObject(child)) throw new SchemaConversionError(`${path}.${name}: not a schema`);
        toStructural(child, `${path}.${name}`, true);
      }
    }
    if (isObject(schema.additionalProperties)) toStructural(schema.additionalProperties, `${path}[*]`, false);
  }
  if (schema.type === 'array') {
    if (!isObject(schema.items)) throw new SchemaConversionError(`${path}: array without a single items schema`);
    if (schema.uniqueItems) throw new SchemaConversionError(`${path}: use listSet() instead of uniqueItems`);
    toStructural(schema.items, `${path}[*]`, false);
  }
  if (schema.type === undefined) throw new SchemaConversionError(`${path}: schema has no type`);
  materializeDefault(schema);
  return schema;
}

/**
 * Fills an object's default with its properties' defaults. The API server checks a
 * default against the object's CEL rules before nested defaults apply, so `default: {}`
 * on an object whose rules read its fields would be rejected.
 */
function materializeDefault(schema: Schema): void {
  if (schema.type !== 'object' || !isObject(schema.default) || !isObject(schema.properties)) return;
  const filled: Schema = { ...schema.default };
  for (const [name, child] of Object.entries(schema.properties)) {
    if (isObject(child) && child.default !== undefined && !(name in filled)) filled[name] = child.default;
  }
  schema.default = filled;
}

/** The structural OpenAPI v3 schema zod produces for one schema of a kind. */
export function structuralSchema(schema: z.ZodType, path: string): Schema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Schema;
  return toStructural(json, path, true);
}

/** The CustomResourceDefinition object of a kind. */
export function customResourceDefinition(def: KindDefinition): Schema {
  const openAPIV3Schema: Schema = {
    description: def.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of the object: ' + API_VERSION + '.' },
      kind: { type: 'string', description: 'Kind of the object: ' + def.kind + '.' },
      metadata: {
        type: 'object',
        properties: {
          name: {
            type: 'string',
            description: `Name of the ${def.singular}.`,
            maxLength: def.nameRule.maxLength,
            'x-kubernetes-validations': [def.nameRule.rule],
          },
        },
      },
      spec: structuralSchema(def.spec, 'spec'),
      status: structuralSchema(def.status, 'status'),
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'weir' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ['weir'],
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...def.printerColumns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}
