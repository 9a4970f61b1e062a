/** Polls until a check passes, for tests that wait on controllers. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Retries `check` until it stops throwing; rethrows its last error after the timeout. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(intervalMs);
  }
}
