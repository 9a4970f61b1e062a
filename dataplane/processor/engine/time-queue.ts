/**
 * A min-heap of timers in event time: what the watermark must pass before a window closes
 * or its state may go. Entries are never removed early; a timer that no longer applies
 * (its window moved or went) is skipped when it comes due.
 */

/** One timer: due at `time`, for the state `key`. */
export interface TimeEntry {
  time: number;
  key: string;
}

export class TimeQueue {
  #heap: TimeEntry[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, key: string): void {
    const heap = this.#heap;
    heap.push({ time, key });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.time <= heap[i]!.time) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  /** Removes and returns every entry due at or before `time`, earliest first. */
  popDue(time: number): TimeEntry[] {
    const due: TimeEntry[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.time <= time) due.push(this.#pop());
    return due;
  }

  #pop(): TimeEntry {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let least = i;
        if (l < heap.length && heap[l]!.time < heap[least]!.time) least = l;
        if (r < heap.length && heap[r]!.time < heap[least]!.time) least = r;
        if (least === i) break;
        [heap[least], heap[i]] = [heap[i]!, heap[least]!];
        i = least;
      }
    }
    return top;
  }
}
