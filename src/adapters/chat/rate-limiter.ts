/**
 * A per-user rate limit for questions, shared by the chat adapters (Discord, Slack) so one user
 * cannot fill the answer queue. A sliding window: a key may take `limit` turns in any `windowMs`
 * span, and a refused user is told exactly when the oldest of their turns runs out. Memory stays
 * bounded by the keys active in the last window or two, however many users come and go.
 */
import { PaperbotError } from '../../errors.ts';

export interface RateLimiterOptions {
  /** Turns per key per window; a positive integer. */
  limit: number;
  /** Length of the sliding window in milliseconds; positive. */
  windowMs: number;
  /**
   * Current time in milliseconds. Defaults to `performance.now()`, which never jumps back when
   * the wall clock is adjusted; tests inject a fake.
   */
  now?: () => number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  /** Per key, the times of its turns within the window, oldest first; never more than `limit`. */
  readonly #turns = new Map<string, number[]>();
  #lastSweep: number;

  /** @throws PaperbotError (`config`) when `limit` is not a positive integer or `windowMs` not a positive number. */
  constructor(options: RateLimiterOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new PaperbotError('config', `The rate limit must be a whole number of questions of at least 1, not ${options.limit}.`);
    }
    if (!Number.isFinite(options.windowMs) || options.windowMs <= 0) {
      throw new PaperbotError('config', `The rate limit window must be a positive number of milliseconds, not ${options.windowMs}.`);
    }
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? (() => performance.now());
    this.#lastSweep = this.#now();
  }

  /** Keys currently tracked; includes keys whose window emptied since the last sweep (at most one window ago). */
  get size(): number {
    return this.#turns.size;
  }

  /**
   * Takes a turn for `key` if it has one left in the window ending now. A refused take uses no
   * turn, so asking again while refused does not push the wait further out. `retryAfterMs` is a
   * whole number of milliseconds (at least 1) after which the next take for `key` is allowed.
   */
  take(key: string): RateDecision {
    const now = this.#now();
    this.#sweep(now);
    const turns = this.#turns.get(key) ?? [];
    while (turns.length > 0 && this.#expired(turns[0] ?? now, now)) turns.shift();
    if (turns.length < this.#limit) {
      turns.push(now);
      this.#turns.set(key, turns);
      return { allowed: true };
    }
    // Full: the oldest turn is the first to leave the window.
    const oldest = turns[0] ?? now;
    return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(oldest + this.#windowMs - now)) };
  }

  #expired(turn: number, now: number): boolean {
    return turn <= now - this.#windowMs;
  }

  /** Drops keys with no turn left in the window; at most once per window, so `take` stays O(1) amortised. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#windowMs) return;
    this.#lastSweep = now;
    for (const [key, turns] of this.#turns) {
      const newest = turns[turns.length - 1];
      if (newest === undefined || this.#expired(newest, now)) this.#turns.delete(key);
    }
  }
}

/**
 * Says when to try again, rounded up so the user is never sent back too early: "in 42 s" under a
 * minute, "in 2 min" under an hour, "in 3 h" beyond; "now" for zero, negative or NaN.
 */
export function describeRetry(ms: number): string {
  if (!(ms > 0)) return 'now';
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `in ${seconds} s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  return `in ${Math.ceil(minutes / 60)} h`;
}
