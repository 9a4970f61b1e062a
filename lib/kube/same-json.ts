/**
 * Comparing what a reconciler is about to write with what the API server holds.
 */
import { isDeepStrictEqual } from 'node:util';

/**
 * Whether two values would be stored as the same JSON. Key order does not count: the API
 * server hands objects back with their keys sorted, so comparing `JSON.stringify` output
 * sees a change on every reconcile and writes the same status again and again. Undefined
 * members count as absent, as they are once written.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(roundTrip(a), roundTrip(b));
}

function roundTrip(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
