/**
 * Which member of a processor's consumer group reads which partitions. Partition p of every
 * subscribed topic (the input and the retry topic) goes to the same member, since both feed
 * the state of input partition p. In `partitioned` mode every partition is a task of its
 * own, spread evenly; in `single` mode one member reads every partition and the others
 * stand by, for aggregations whose groups span partitions. Members keep what they owned
 * where balance allows, so a rebalance moves as little state as it can.
 */

/** How a pipeline's partitions become tasks. */
export type TaskMode = 'partitioned' | 'single';

/** A member and the partitions it owned before this rebalance. */
export interface MemberOwnership {
  memberId: string;
  owned: number[];
}

/** Partitions (of every subscribed topic) per member id. */
export function assignTasks(members: MemberOwnership[], partitions: number, mode: TaskMode): Map<string, number[]> {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const out = new Map(sorted.map((m) => [m.memberId, [] as number[]]));
  if (sorted.length === 0 || partitions === 0) return out;
  const all = Array.from({ length: partitions }, (_, p) => p);
  if (mode === 'single') {
    // The member that owned the most keeps everything; ties go to the lowest id.
    const owner = sorted.reduce((best, m) => (m.owned.length > best.owned.length ? m : best), sorted[0]!);
    out.set(owner.memberId, all);
    return out;
  }
  const base = Math.floor(partitions / sorted.length);
  const extra = partitions % sorted.length;
  // The first `extra` members (by id) may hold one more.
  const quota = new Map(sorted.map((m, i) => [m.memberId, base + (i < extra ? 1 : 0)]));
  const taken = new Set<number>();
  for (const m of sorted) {
    const keep = [...new Set(m.owned)].filter((p) => p < partitions && !taken.has(p)).sort((a, b) => a - b);
    for (const p of keep.slice(0, quota.get(m.memberId))) {
      out.get(m.memberId)!.push(p);
      taken.add(p);
    }
  }
  const free = all.filter((p) => !taken.has(p));
  for (const m of sorted) {
    const mine = out.get(m.memberId)!;
    while (mine.length < quota.get(m.memberId)! && free.length > 0) mine.push(free.shift()!);
    mine.sort((a, b) => a - b);
  }
  return out;
}
