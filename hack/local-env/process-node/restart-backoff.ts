/**
 * How long the process node waits before starting a container that exited again: the
 * kubelet's crash-loop back-off. The first restart is immediate; after that the wait starts
 * at 10 s and doubles up to 5 min. A container that ran for 10 min before it exited starts
 * over. While it waits, the container shows `CrashLoopBackOff`.
 */

/** The kubelet's defaults. */
export const KUBELET_BACKOFF = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 } as const;

export type BackoffSettings = { initialMs: number; maxMs: number; resetAfterMs: number };

/** The back-off of one container, across its restarts. */
export class RestartBackoff {
  readonly #settings: BackoffSettings;
  /** The wait before the next restart once one has been needed; undefined until the first exit. */
  #currentMs: number | undefined;

  constructor(settings: BackoffSettings = KUBELET_BACKOFF) {
    this.#settings = settings;
  }

  /** The wait before restarting a container that just exited after running for `ranForMs`. */
  next(ranForMs: number): number {
    if (this.#currentMs === undefined || ranForMs >= this.#settings.resetAfterMs) {
      this.#currentMs = this.#settings.initialMs;
      return 0;
    }
    const delay = this.#currentMs;
    this.#currentMs = Math.min(this.#settings.maxMs, this.#currentMs * 2);
    return delay;
  }
}

/** The message the kubelet gives a container waiting in CrashLoopBackOff. */
export function crashLoopMessage(
  delayMs: number,
  container: string,
  pod: { name: string; namespace: string; uid: string },
): string {
  return `back-off ${formatDuration(delayMs)} restarting failed container=${container} pod=${pod.name}_${pod.namespace}(${pod.uid})`;
}

/** `10s`, `2m40s`, `5m0s`, as Go prints a time.Duration of whole seconds. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}
