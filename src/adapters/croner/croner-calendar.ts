/**
 * `CronCalendar` on croner: cron expressions read in a target's IANA time zone, slot lookups
 * for catch-up, and timers that never overlap (croner's `protect`) and never throw into the
 * event loop (`catch`).
 */
import { Cron } from 'croner';
import { isTimeZone } from '../../digest/digest-config.ts';
import type { CronCalendar, CronTimer } from '../../digest/model.ts';

export class CronerCalendar implements CronCalendar {
  problem(pattern: string, timezone?: string): string | null {
    try {
      new Cron(pattern, { paused: true, ...(timezone && isTimeZone(timezone) ? { timezone } : {}) });
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  }

  slotsAtOrBefore(pattern: string, timezone: string, now: Date, limit: number): Date[] {
    // previousRuns looks strictly before its date; a slot exactly at `now` is due too.
    return new Cron(pattern, { timezone, paused: true }).previousRuns(limit, new Date(now.getTime() + 1));
  }

  nextSlot(pattern: string, timezone: string, after: Date): Date | null {
    return new Cron(pattern, { timezone, paused: true }).nextRun(after);
  }

  every(pattern: string, timezone: string, name: string, tick: (slot: Date | undefined) => Promise<void>, onError: (error: unknown) => void): CronTimer {
    const job = new Cron(pattern, { name, timezone, protect: true, catch: onError }, async (self: Cron) => {
      // The slot this tick stands for, even when the timer fires a little early or late.
      await tick(self.currentRun() ?? undefined);
    });
    return { stop: () => job.stop(), nextRun: () => job.nextRun() };
  }
}
