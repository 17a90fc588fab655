/**
 * Runs each digest target on its cron schedule (the `CronCalendar`, in the target's time zone) beside the
 * chat bots. On start it settles crashed claims and catches up missed slots; each tick asks the
 * service for the due slot, so a late tick, a restart or a second process never double-posts.
 * Runs never overlap (croner's `protect` plus the service's per-target queue), and an error is
 * logged, never thrown into the timer.
 */
import type { Logger } from 'pino';
import type { DigestService, RunOutcome } from './digest-service.ts';
import type { CronCalendar, CronTimer, DigestTarget } from './model.ts';

export class DigestScheduler {
  private jobs: CronTimer[] = [];

  constructor(
    private readonly service: DigestService,
    private readonly calendar: CronCalendar,
    private readonly logger: Logger,
    private readonly onOutcome: (outcome: RunOutcome) => void = () => undefined,
  ) {}

  /** Registers targets, settles crashed claims, starts the timers, then catches up in the background. */
  async start(): Promise<{ targets: number; next: { target: string; at: Date } | null }> {
    this.service.registerTargets();
    await this.service.reconcile().catch((error: unknown) => this.logger.error({ err: error }, 'digest: reconciling claims failed'));
    for (const target of this.service.targets) {
      const job = this.calendar.every(
        target.cron,
        target.timezone,
        `digest:${target.name}`,
        (slot) => this.run(target, slot),
        (error) => this.logger.error({ err: error, target: target.name }, 'digest: scheduled run failed'),
      );
      this.jobs.push(job);
    }
    // Missed slots (downtime, a late start) are posted now, as one digest per target.
    for (const target of this.service.targets) void this.run(target);
    return { targets: this.jobs.length, next: this.next() };
  }

  /** The soonest next run over all targets. */
  next(): { target: string; at: Date } | null {
    let soonest: { target: string; at: Date } | null = null;
    this.jobs.forEach((job, i) => {
      const at = job.nextRun();
      const target = this.service.targets[i];
      if (at && target && (!soonest || at < soonest.at)) soonest = { target: target.name, at };
    });
    return soonest;
  }

  private async run(target: DigestTarget, expected?: Date): Promise<void> {
    try {
      await this.service.reconcile();
      const outcome = await this.service.runDue(target, expected ? { expected } : {});
      if (outcome) this.onOutcome(outcome);
    } catch (error) {
      this.logger.error({ err: error, target: target.name }, 'digest: run failed');
    }
  }

  /** Stops the timers and waits (up to `graceMs`) for a run in progress to finish. */
  async stop(graceMs = 10_000): Promise<void> {
    for (const job of this.jobs) job.stop();
    this.jobs = [];
    await Promise.race([this.service.idle(), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
  }
}
