/**
 * Per-message limits of one WebSocket connection or gRPC stream (a policy's `streams`):
 * messages per second and the largest message. A stream lives on one gateway, so these are
 * kept in process — a token bucket with one second of burst, on the injected clock — and
 * cost no Redis call per message; the tenant's and the rules' limits still apply to every
 * message through the limiter.
 */
import type { Clock } from '../clock/clock.ts';

/** The strictest stream limits of the policies that apply; undefined fields are unlimited. */
export interface StreamLimits {
  messagesPerSecond?: number;
  maxMessageBytes?: number;
}

/** Combines the stream limits of several policies: every one must hold, so the smallest wins. */
export function strictestStreamLimits(limits: readonly (StreamLimits | undefined)[]): StreamLimits {
  const min = (values: (number | undefined)[]) => {
    const set = values.filter((v): v is number => v !== undefined);
    return set.length ? Math.min(...set) : undefined;
  };
  return {
    messagesPerSecond: min(limits.map((l) => l?.messagesPerSecond)),
    maxMessageBytes: min(limits.map((l) => l?.maxMessageBytes)),
  };
}

/** Why a message was refused by its stream's limits. */
export type StreamVerdict =
  { ok: true } | { ok: false; reason: 'rate'; retryAfterMs: number } | { ok: false; reason: 'size'; max: number };

/** The limits of one stream, with its bucket. */
export class StreamMessageLimit {
  #limits: StreamLimits;
  #clock: Clock;
  #tokens: number;
  #at: number;

  constructor(limits: StreamLimits, clock: Clock) {
    this.#limits = limits;
    this.#clock = clock;
    this.#tokens = limits.messagesPerSecond ?? 0;
    this.#at = clock.now();
  }

  /** Applies new limits (a policy changed) without resetting what the stream has used. */
  update(limits: StreamLimits): void {
    this.#refill();
    this.#limits = limits;
    if (limits.messagesPerSecond !== undefined) this.#tokens = Math.min(this.#tokens, limits.messagesPerSecond);
  }

  /** Takes one message of `bytes` bytes if the limits allow it. */
  take(bytes: number): StreamVerdict {
    const { maxMessageBytes, messagesPerSecond } = this.#limits;
    if (maxMessageBytes !== undefined && bytes > maxMessageBytes)
      return { ok: false, reason: 'size', max: maxMessageBytes };
    if (messagesPerSecond === undefined) return { ok: true };
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { ok: true };
    }
    return { ok: false, reason: 'rate', retryAfterMs: Math.ceil(((1 - this.#tokens) * 1000) / messagesPerSecond) };
  }

  #refill(): void {
    const now = this.#clock.now();
    const rate = this.#limits.messagesPerSecond;
    if (rate !== undefined) this.#tokens = Math.min(rate, this.#tokens + ((now - this.#at) * rate) / 1000);
    this.#at = now;
  }
}
