/** Errors of @kubernetes/client-node calls, told in one line. */

/** A one-line description of an API error; client-node's messages carry every header. */
export function describeError(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  if (typeof e?.code === 'number') {
    let message = '';
    try {
      message = (JSON.parse(String(e.body)) as { message?: string }).message ?? '';
    } catch {
      // Not a Status object.
    }
    return `HTTP ${e.code}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
