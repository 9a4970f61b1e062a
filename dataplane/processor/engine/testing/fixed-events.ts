/**
 * A fixed stream for window tests, shared by the engine's unit tests and the processor's
 * e2e test: events of four users, some in order, some out of order, some late (within the
 * allowed lateness of 10 s) and some too late, for a watermark 5 s behind the newest event.
 */
import type { OracleEvent } from './oracle.ts';

/** Seconds, user, amount. */
export const FIXED_EVENTS: [number, string, number][] = [
  [1, 'u1', 5],
  [3, 'u2', 7],
  [62, 'u1', 1],
  [50, 'u1', 2], // out of order, on time; a session grows backwards
  [70, 'u2', 3], // the watermark passes 60
  [58, 'u1', 4], // late for [0, 60) if tumbling or sliding
  [80, 'u2', 6],
  [58, 'u3', 2], // too late for [0, 60); a late session
  [60, 'u3', 3], // corrects that late session
  [59, 'u1', 9], // too late for [0, 60)
  [125, 'u1', 10],
  [61, 'u2', 8], // late for [60, 120) if tumbling, too late if sliding or a session
  [119, 'u2', 2],
  [100, 'u3', 4], // late everywhere
  [135, 'u4', 7], // the watermark reaches 130
  [119, 'u4', 1], // exactly at the lateness bound of [60, 120): too late; a new session
  [200, 'u1', 1],
  [185, 'u1', 6], // merges two sessions
  [131, 'u1', 5], // too late
  [210, 'u2', 3],
  [205, 'u2', 4],
];

/** The stream as events, epoch ms from 0, each with a buyer of four for Distinct. */
export function fixedEvents(base = 0): OracleEvent[] {
  return FIXED_EVENTS.map(([s, user, amount], i) => ({
    partition: 0,
    t: base + s * 1000,
    event: { ts: base + s * 1000, user, amount, buyer: `b${i % 4}` },
  }));
}
