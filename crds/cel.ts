/**
 * Kubernetes schema extensions attached to zod schemas as metadata, so that one zod
 * schema carries both the TypeScript type and what the API server checks at admission.
 */
import type { z } from 'zod';

/** One `x-kubernetes-validations` entry: a CEL rule the API server evaluates. */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  /** JSON path, relative to the schema the rule sits on, of the field to blame. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  optionalOldSelf?: boolean;
}

type Meta = Record<string, unknown>;

function addMeta<T extends z.ZodType>(schema: T, extra: Meta): T {
  return schema.meta({ ...(schema.meta() ?? {}), ...extra }) as T;
}

/** Attaches CEL validation rules to a schema, after any it already carries. */
export function validated<T extends z.ZodType>(schema: T, ...rules: CelRule[]): T {
  const existing = (schema.meta()?.['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  return addMeta(schema, { 'x-kubernetes-validations': [...existing, ...rules] });
}

/** Marks a list as a set: items are unique scalars and order does not matter to merges. */
export function listSet<T extends z.ZodType>(schema: T): T {
  return addMeta(schema, { 'x-kubernetes-list-type': 'set' });
}

/** Marks a list of objects as a map keyed by the given fields, so items can be merged and correlated across updates. */
export function listMap<T extends z.ZodType>(schema: T, ...keys: string[]): T {
  return addMeta(schema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': keys });
}

/** A transition rule that forbids changing a field once set. */
export function immutable(what: string): CelRule {
  return { rule: 'self == oldSelf', message: `${what} is immutable` };
}

/** A CEL expression that is true when `expr` is a duration string `duration()` can parse. */
export function isDurationExpr(expr: string): string {
  return `${expr}.matches('${DURATION_PATTERN}')`;
}

/** Go duration strings as CEL's duration() accepts them, limited to ms, s, m and h. */
export const DURATION_PATTERN = '^([0-9]+([.][0-9]+)?(ms|s|m|h))+$';

/** RFC 6901 JSON pointer to a field inside an event; never the whole document. */
export const JSON_POINTER_PATTERN = '^(/([^/~]|~[01])*)+$';
