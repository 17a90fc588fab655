import { describe, expect, it } from 'vitest';
import { RateLimiter, describeRetry } from '../src/adapters/chat/rate-limiter.ts';
import { PaperbotError } from '../src/errors.ts';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

const MINUTE = 60_000;

describe('RateLimiter', () => {
  it('allows `limit` turns per window for a key, then refuses with the time until the oldest expires', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 5, windowMs: MINUTE, now: clock.now });
    for (let i = 0; i < 5; i += 1) {
      expect(limiter.take('alice'), `turn ${i + 1}`).toEqual({ allowed: true });
      clock.advance(1_000);
    }
    // Turns at 0, 1, 2, 3, 4 s; now is 5 s: the first leaves the window at 60 s.
    expect(limiter.take('alice')).toEqual({ allowed: false, retryAfterMs: 55_000 });
  });

  it('keeps keys apart', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 2, windowMs: MINUTE, now: clock.now });
    expect(limiter.take('alice').allowed).toBe(true);
    expect(limiter.take('alice').allowed).toBe(true);
    expect(limiter.take('alice').allowed).toBe(false);
    expect(limiter.take('bob')).toEqual({ allowed: true });
    expect(limiter.take('bob')).toEqual({ allowed: true });
    expect(limiter.take('bob').allowed).toBe(false);
  });

  it('slides: each turn comes back exactly one window after it was taken', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 3, windowMs: MINUTE, now: clock.now });
    expect(limiter.take('k').allowed).toBe(true); // t = 0
    clock.advance(20_000);
    expect(limiter.take('k').allowed).toBe(true); // t = 20 s
    clock.advance(20_000);
    expect(limiter.take('k').allowed).toBe(true); // t = 40 s
    clock.advance(10_000);
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterMs: 10_000 }); // t = 50 s
    clock.advance(9_999);
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterMs: 1 });
    clock.advance(1); // t = 60 s: the turn from t = 0 has left the window
    expect(limiter.take('k')).toEqual({ allowed: true });
    // Full again; the next turn back is the one from t = 20 s, at t = 80 s. A fixed window would say otherwise.
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterMs: 20_000 });
  });

  it('does not count refused attempts, so hammering does not push the wait out', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 1, windowMs: MINUTE, now: clock.now });
    expect(limiter.take('spammer').allowed).toBe(true);
    for (let i = 0; i < 50; i += 1) {
      clock.advance(1_000);
      expect(limiter.take('spammer').allowed).toBe(false);
    }
    clock.advance(10_000); // t = 60 s
    expect(limiter.take('spammer').allowed).toBe(true);
  });

  it('rounds a fractional wait up to a whole millisecond', () => {
    const clock = fakeClock(0.25);
    const limiter = new RateLimiter({ limit: 1, windowMs: 1_000, now: clock.now });
    limiter.take('k');
    clock.advance(0.5);
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterMs: 1_000 });
  });

  it('forgets keys whose window is empty, so many one-off users do not grow memory', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 5, windowMs: MINUTE, now: clock.now });
    for (let round = 0; round < 20; round += 1) {
      for (let user = 0; user < 1_000; user += 1) limiter.take(`round${round}-user${user}`);
      // At most this window's users and the previous window's, however many rounds have passed.
      expect(limiter.size).toBeLessThanOrEqual(2_000);
      clock.advance(MINUTE);
    }
    clock.advance(MINUTE);
    limiter.take('last');
    expect(limiter.size).toBe(1);
  });

  it('keeps keys that still have a turn in the window when sweeping', () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 1, windowMs: MINUTE, now: clock.now });
    limiter.take('old');
    clock.advance(30_000);
    limiter.take('recent');
    clock.advance(30_000); // the sweep runs here: 'old' is gone, 'recent' is 30 s old
    limiter.take('trigger');
    expect(limiter.size).toBe(2);
    expect(limiter.take('recent')).toEqual({ allowed: false, retryAfterMs: 30_000 });
  });

  it('rejects impossible options', () => {
    for (const limit of [0, -1, 2.5, Number.NaN]) {
      expect(() => new RateLimiter({ limit, windowMs: MINUTE }), String(limit)).toThrow(PaperbotError);
    }
    for (const windowMs of [0, -5, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(() => new RateLimiter({ limit: 5, windowMs }), String(windowMs)).toThrow(/window/);
    }
  });

  it('works with the default clock', () => {
    const limiter = new RateLimiter({ limit: 1, windowMs: MINUTE });
    expect(limiter.take('k').allowed).toBe(true);
    const refused = limiter.take('k');
    expect(refused.allowed).toBe(false);
    if (!refused.allowed) {
      expect(refused.retryAfterMs).toBeGreaterThan(MINUTE - 1_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(MINUTE);
    }
  });
});

describe('describeRetry', () => {
  it.each([
    [1, 'in 1 s'],
    [999, 'in 1 s'],
    [1_000, 'in 1 s'],
    [1_001, 'in 2 s'],
    [42_000, 'in 42 s'],
    [59_000, 'in 59 s'],
    [59_001, 'in 1 min'],
    [60_000, 'in 1 min'],
    [61_000, 'in 2 min'],
    [120_000, 'in 2 min'],
    [59 * MINUTE, 'in 59 min'],
    [59 * MINUTE + 1, 'in 1 h'],
    [90 * MINUTE, 'in 2 h'],
    [0, 'now'],
    [-5, 'now'],
    [Number.NaN, 'now'],
  ])('%d ms reads "%s"', (ms, text) => {
    expect(describeRetry(ms)).toBe(text);
  });
});
