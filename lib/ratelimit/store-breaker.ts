/**
 * A circuit breaker in front of the limiter's Redis: after a few failures in a row it
 * stops asking for a while and answers every decision in its failure mode at once, so a
 * Redis that hangs costs each request nothing rather than a timeout; then one request at a
 * time probes until one succeeds. State is a plain value, stepped by pure functions of the
 * time, so tests move a fake clock instead of waiting.
 */

/** Where the breaker stands. */
export type BreakerState =
  { kind: 'closed'; failures: number } | { kind: 'open'; until: number } | { kind: 'probing'; since: number };

/** How quickly it opens and how long it stays open. */
export interface BreakerSettings {
  /** Failures in a row that open it. */
  failuresToOpen: number;
  /** How long it stays open before one probe is let through. */
  openMs: number;
  /** A probe that has not come back after this long counts as failed. */
  probeTimeoutMs: number;
}

export const CLOSED: BreakerState = { kind: 'closed', failures: 0 };

/** Whether a call may go to the store now, and the state with that call in flight. */
export function admitCall(
  state: BreakerState,
  now: number,
  s: BreakerSettings,
): { call: boolean; state: BreakerState } {
  switch (state.kind) {
    case 'closed':
      return { call: true, state };
    case 'open':
      return now >= state.until ? { call: true, state: { kind: 'probing', since: now } } : { call: false, state };
    case 'probing':
      // One probe at a time; a lost probe must not keep the breaker half-open for ever.
      return now - state.since >= s.probeTimeoutMs
        ? { call: true, state: { kind: 'probing', since: now } }
        : { call: false, state };
  }
}

/** The state after a call succeeded. */
export function callSucceeded(): BreakerState {
  return CLOSED;
}

/** The state after a call failed at `now`. */
export function callFailed(state: BreakerState, now: number, s: BreakerSettings): BreakerState {
  if (state.kind === 'closed' && state.failures + 1 < s.failuresToOpen)
    return { kind: 'closed', failures: state.failures + 1 };
  return { kind: 'open', until: now + s.openMs };
}
