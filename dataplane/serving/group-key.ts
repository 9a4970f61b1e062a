/**
 * Group keys as clients name them: the processor's JSON array of the groupBy values in spec
 * order (lib/platform/results.ts), such as `["u1","eu"]`, or `[]` without groupBy. A key is
 * only ever put after the tenant's, pipeline's and aggregation's part of a Redis key, so it
 * cannot reach outside them; it is still checked to be what the processor writes, so that
 * junk is refused with a message instead of read.
 */
import { Errors, weirError } from '../../lib/errors/errors.ts';

/** Longest group key accepted. */
export const MAX_GROUP_KEY_LENGTH = 1024;

/** Why `raw` is not a group key, or undefined when it is one. */
export function groupKeyProblem(raw: string, arity: number): string | undefined {
  if (raw.length > MAX_GROUP_KEY_LENGTH) return `must be at most ${MAX_GROUP_KEY_LENGTH} characters`;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return 'must be a JSON array of the groupBy values, such as ["u1","eu"]';
  }
  if (!Array.isArray(value) || value.some((v) => v !== null && typeof v === 'object'))
    return 'must be a JSON array of the groupBy values, such as ["u1","eu"]';
  if (value.length !== arity) return `must have ${arity} value${arity === 1 ? '' : 's'}, one per groupBy field`;
  if (JSON.stringify(value) !== raw) return `must be written as the processor writes it: ${JSON.stringify(value)}`;
  return undefined;
}

/** `raw` if it is a group key, else an InvalidRequest naming the parameter. */
export function checkGroupKey(raw: string, arity: number, parameter = 'groupKey'): string {
  const problem = groupKeyProblem(raw, arity);
  if (problem)
    throw weirError(Errors.InvalidRequest, `${parameter} ${problem}`, {
      details: { errors: [{ parameter, message: problem }] },
    });
  return raw;
}
