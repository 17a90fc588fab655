/**
 * The digest runner: gathers new papers (inbox and live sources, each behind its port) into the library, claims a slot,
 * lays the digest out, posts it, and records it, so each (target, slot) is posted at most once
 * and each paper reaches a target at most once, across restarts, retries and stray second
 * processes. It also reconciles claims left by a crash and folds missed slots into one
 * "while I was away" digest. The clock is injected; the scheduler only decides when to call it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { PaperbotError } from '../errors.ts';
import type { PaperLibrary } from '../rag/library.ts';
import { buildDigestLayout, digestMarker } from './layout.ts';
import { SourceFailure, type DigestLayout, type InboxFileReport, type CronCalendar, type InboxSource, type DigestPreviewResult, type DigestPublisher, type DigestTarget, type PaperSource } from './model.ts';

import { fromTargetSources, rankPapers, type RankedPaper } from './selection.ts';
import type { Candidate, DigestStore, SlotRecord } from './digest-store.ts';
import { summarisePapers, type PaperSummarizer } from './summaries.ts';

import { PLATFORMS, type Platform } from '../platforms.ts';
import type { Clock, Paper } from '../rag/types.ts';
const DAY_MS = 24 * 60 * 60 * 1000;
/** A live source fetched this recently is not asked again (several targets sharing one slot). */
const REFETCH_AFTER_MS = 60 * 1000;
/**
 * How far back a source's first fetch looks. arXiv's longest gap between announcements is
 * Thursday to Sunday evening (72 h), so its first fetch always spans one.
 */
const FIRST_FETCH_LOOKBACK_MS: Record<PaperSource['name'], number> = { huggingface: DAY_MS, arxiv: 3 * DAY_MS + 60 * 60 * 1000 };
/** The most missed slots looked at when catching up (an every-minute cron over a week is more). */
const MAX_SLOTS_LOOKED_AT = 1000;

export interface DigestSettings {
  maxAgeDays: number;
  /** A claim older than this is presumed dead even when its owner cannot be checked (another host). */
  claimLeaseMs: number;
  /** The "how to list the rest" sentence, per platform. */
  moreHint: (target: DigestTarget) => string;
}

export interface DigestServiceParts {
  library: PaperLibrary;
  store: DigestStore;
  targets: readonly DigestTarget[];
  publishers: Partial<Record<Platform, DigestPublisher>>;
  sources: Partial<Record<PaperSource['name'], PaperSource>>;
  inbox: InboxSource;
  summarizer: PaperSummarizer | null;
  calendar: CronCalendar;
  clock: Clock;
  logger: Logger;
  settings: DigestSettings;
  /** Who holds claims made by this process, and whether another holder still runs (tests inject both). */
  owner?: { id: string; isAlive: (owner: string) => boolean };
}

export type RunStatus = 'sent' | 'skipped' | 'failed' | 'taken' | 'pending';

export interface RunOutcome {
  target: string;
  slot: string;
  status: RunStatus;
  /** Papers the digest covered (shown in the message and thread, plus the "more" count). */
  papers: number;
  messageRef?: string;
  catchUp?: { missedSlots: number };
  /** Footer notes (source failures) and what went wrong when not sent. */
  notes: string[];
  detail?: string;
}

export interface PreviewEntry {
  target: DigestTarget;
  slot: string;
  nextAt: string | null;
  /** False when the digest is empty and the target skips empty days. */
  wouldPost: boolean;
  layout: DigestLayout;
}

export interface DigestStatus {
  targets: {
    name: string;
    platform: Platform;
    channel: string;
    cron: string;
    timezone: string;
    sources: DigestTarget['sources'];
    firstSeenAt: string | null;
    nextAt: string | null;
    postedPapers: number;
    recent: { slot: string; kind: string; status: string; messageRef: string | null; detail: string | null }[];
  }[];
  sources: { source: string; lastSuccessAt?: string; lastAttemptAt?: string; lastError?: string }[];
}

export interface GatherReport {
  inbox: InboxFileReport[];
  sources: { source: string; label: string; ok: boolean; added: number; skipped?: string; error?: string }[];
}

function ownerOfThisProcess(): { id: string; isAlive: (owner: string) => boolean } {
  const host = hostname();
  const boot = randomBytes(4).toString('hex');
  const id = `${host}/${process.pid}/${boot}`;
  return {
    id,
    isAlive(owner) {
      const [ownerHost, pidText, ownerBoot] = owner.split('/');
      if (ownerHost !== host || !pidText) return true; // another machine: only the lease can tell
      const pid = Number(pidText);
      if (pid === process.pid) return ownerBoot === boot;
      try {
        process.kill(pid, 0);
        return true;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
  };
}

export class DigestService {
  private readonly owner: { id: string; isAlive: (owner: string) => boolean };
  /** One run per target at a time: a cron tick, a catch-up and `--now` queue behind each other. */
  private readonly running = new Map<string, Promise<unknown>>();
  private gathering: Promise<unknown> = Promise.resolve();

  constructor(private readonly parts: DigestServiceParts) {
    this.owner = parts.owner ?? ownerOfThisProcess();
  }

  get targets(): readonly DigestTarget[] {
    return this.parts.targets;
  }

  /** The named target; a usage error listing the configured names otherwise. */
  target(name: string): DigestTarget {
    const found = this.parts.targets.find((t) => t.name === name);
    if (!found) throw new PaperbotError('usage', `No digest target is named "${name}". Configured: ${this.parts.targets.map((t) => t.name).join(', ')}.`);
    return found;
  }

  /** Remembers when each target was first seen: its first digest covers papers arriving after that. */
  registerTargets(): void {
    const now = this.parts.clock().toISOString();
    for (const target of this.parts.targets) this.parts.store.registerTarget(target.name, now);
  }

  /**
   * Scans the inbox and fetches the live sources the given targets list, ingesting everything
   * through the library (deduplicated by arXiv id), so fetched papers are askable at once.
   */
  gather(targets: readonly DigestTarget[], options: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<GatherReport> {
    // One gather at a time: targets sharing a slot then find the source fetched minutes ago.
    const run = this.gathering.catch(() => undefined).then(() => this.gatherNow(targets, options));
    this.gathering = run;
    return run;
  }

  private async gatherNow(targets: readonly DigestTarget[], options: { dryRun?: boolean; signal?: AbortSignal }): Promise<GatherReport> {
    const { signal } = options;
    const report: GatherReport = { inbox: [], sources: [] };
    if (targets.some((t) => t.sources.includes('inbox'))) {
      try {
        // The write lock first: when another writer keeps it, no inbox file is claimed (or failed) meanwhile.
        report.inbox = await this.parts.library.withWriteLock(() =>
          this.parts.inbox.scan(async (file) => (await this.parts.library.ingest([file], { origin: { name: 'inbox', bulk: 'auto' } })).totals, options.dryRun ? { leaveFiles: true } : {}),
        );
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.parts.logger.warn({ err: error }, 'digest: the inbox was not scanned; its files wait for the next run');
        report.inbox = [{ file: 'inbox', added: 0, updated: 0, rejected: 0, error: `not scanned, its files wait for the next digest: ${reason}` }];
      }
    }
    const now = this.parts.clock();
    const wanted = new Map<string, { source: PaperSource; categories: string[] }>();
    for (const target of targets) {
      for (const name of target.sources) {
        if (name === 'inbox') continue;
        const source = this.parts.sources[name];
        if (!source) continue;
        const categories = name === 'arxiv' ? [...target.arxivCategories].sort() : [];
        const key = name === 'arxiv' ? `arxiv:${categories.join(',')}` : name;
        wanted.set(key, { source, categories });
      }
    }
    for (const [key, { source, categories }] of wanted) {
      const state = this.parts.store.sourceState(key);
      const last = state.lastSuccessAt ? new Date(state.lastSuccessAt) : null;
      if (last && now.getTime() - last.getTime() < REFETCH_AFTER_MS) {
        report.sources.push({ source: key, label: source.label, ok: true, added: 0, skipped: 'fetched less than a minute ago' });
        continue;
      }
      const oldest = new Date(now.getTime() - this.parts.settings.maxAgeDays * DAY_MS);
      const since = new Date(Math.max(oldest.getTime(), (last ?? new Date(now.getTime() - FIRST_FETCH_LOOKBACK_MS[source.name])).getTime()));
      try {
        const records = await source.fetch({ now, since, ...(categories.length ? { categories } : {}), ...(signal ? { signal } : {}) });
        const ingested = await this.parts.library.ingestRecords(records, { name: source.name, bulk: 'never' });
        this.parts.store.recordSourceAttempt(key, now.toISOString(), null);
        report.sources.push({ source: key, label: source.label, ok: true, added: ingested.added });
        this.parts.logger.info({ source: key, fetched: records.length, added: ingested.added, updated: ingested.updated }, 'digest: source fetched');
      } catch (error) {
        const reason = error instanceof SourceFailure ? error.reason : error instanceof Error ? error.message : String(error);
        this.parts.store.recordSourceAttempt(key, now.toISOString(), reason);
        report.sources.push({ source: key, label: source.label, ok: false, added: 0, error: reason });
        // `notified`: the run's report names the failed source (the dry run's notice, the digest's footer).
        this.parts.logger.warn({ err: error, source: key, notified: true }, `digest: ${source.label} failed; the digest goes out with the other sources`);
      }
    }
    return report;
  }

  /** Footer notes for a target: each of its sources that failed in this gather. */
  private notesFor(target: DigestTarget, report: GatherReport): string[] {
    const notes: string[] = [];
    for (const source of report.sources) {
      const name = source.source.split(':')[0] as DigestTarget['sources'][number];
      if (!source.ok && target.sources.includes(name)) notes.push(`${source.label} could not be fetched (${source.error}); this digest has the papers from the other sources.`);
    }
    for (const file of report.inbox) {
      if (file.error) notes.push(`The inbox file ${file.file} could not be read and was not ingested (${file.error.replace(/\.$/, '')}).`);
    }
    return notes;
  }

  /**
   * Claims the target's due scheduled slot, if any, and posts it. Several missed slots (after
   * downtime) become one catch-up digest under the newest; the older ones are recorded as merged.
   */
  runDue(target: DigestTarget, options: { expected?: Date } = {}): Promise<RunOutcome | null> {
    return this.exclusive(target.name, async () => {
      const clockNow = this.parts.clock();
      // A cron tick may fire a hair before its slot's instant; never treat the slot as future.
      const now = options.expected && options.expected > clockNow ? options.expected : clockNow;
      const due = this.dueSlots(target, now);
      if (!due.length) return null;
      const [latest, ...older] = due as [Date, ...Date[]];
      const report = await this.gather([target]);
      const catchUp = older.length ? { missedSlots: due.length, since: older[older.length - 1]! } : undefined;
      return this.postSlot(target, {
        slot: latest.toISOString(),
        kind: 'scheduled',
        at: latest,
        merges: older.map((d) => d.toISOString()),
        notes: this.notesFor(target, report),
        ...(catchUp ? { catchUp } : {}),
      });
    });
  }

  /** Scheduled slots of a target not yet handled, newest first, after its first sighting and within the catch-up age. */
  dueSlots(target: DigestTarget, now: Date): Date[] {
    const record = this.parts.store.target(target.name) ?? this.parts.store.registerTarget(target.name, now.toISOString());
    const handled = this.parts.store.latestScheduledSlot(target.name);
    const floor = Math.max(new Date(record.firstSeenAt).getTime(), handled ? new Date(handled).getTime() : 0, now.getTime() - this.parts.settings.maxAgeDays * DAY_MS);
    return this.parts.calendar.slotsAtOrBefore(target.cron, target.timezone, now, MAX_SLOTS_LOOKED_AT).filter((slot) => slot.getTime() > floor);
  }

  /** `digest --now`: an extra digest of the papers not yet posted to the target (or, with `since`, a backfill). */
  postNow(target: DigestTarget, options: { since?: Date } = {}): Promise<RunOutcome> {
    return this.exclusive(target.name, async () => {
      const report = await this.gather([target]);
      const now = this.parts.clock();
      return this.postSlot(target, { slot: `now:${now.toISOString()}`, kind: 'now', at: now, notes: this.notesFor(target, report), ...(options.since ? { since: options.since } : {}) });
    });
  }

  private async postSlot(
    target: DigestTarget,
    run: { slot: string; kind: 'scheduled' | 'now'; at: Date; merges?: string[]; notes: string[]; catchUp?: { missedSlots: number; since: Date }; since?: Date },
  ): Promise<RunOutcome> {
    const { store, logger } = this.parts;
    const now = this.parts.clock();
    const record = store.target(target.name) ?? store.registerTarget(target.name, now.toISOString());
    const marker = digestMarker(target.name, run.slot);
    const limit = target.size + target.threadMax;
    const claimed = store.claim(
      {
        target: target.name,
        slot: run.slot,
        kind: run.kind,
        owner: this.owner.id,
        now: now.toISOString(),
        channel: target.channel,
        marker,
        ...(run.merges?.length ? { merges: run.merges } : {}),
        candidates: run.since
          ? { target: target.name, since: run.since.toISOString(), notBefore: run.since.toISOString() }
          : { target: target.name, afterRowId: record.firstSeenRowId, notBefore: new Date(now.getTime() - this.parts.settings.maxAgeDays * DAY_MS).toISOString() },
      },
      (candidates) => {
        const ranked = rankPapers(this.papersFor(target, candidates), target.topics);
        return { ranked, order: ranked.map((r) => r.paper.rowId), shown: limit };
      },
    );
    const base = { target: target.name, slot: run.slot, notes: run.notes, ...(run.catchUp ? { catchUp: { missedSlots: run.catchUp.missedSlots } } : {}) };
    if (!claimed) {
      logger.info({ target: target.name, slot: run.slot }, 'digest: slot already claimed by another run; not posting');
      return { ...base, status: 'taken', papers: 0 };
    }
    const papers = claimed.ranked.length;
    if (papers === 0 && target.empty === 'skip' && run.notes.length === 0) {
      store.release(target.name, run.slot, 'skipped', now.toISOString(), 'no new papers (empty: skip)');
      logger.info({ target: target.name, slot: run.slot }, 'digest: no new papers; skipped (empty: skip)');
      return { ...base, status: 'skipped', papers: 0, detail: 'no new papers (empty: skip)' };
    }
    try {
      let layout = await this.compose(target, run.slot, run.at, claimed.ranked, run.notes, run.catchUp, true);
      // A paper removed (`paperbot remove`) while the digest was being written is left out.
      const present = this.stillStored(claimed.ranked);
      if (present.length !== claimed.ranked.length) {
        logger.info({ target: target.name, slot: run.slot, removed: claimed.ranked.length - present.length }, 'digest: papers removed meanwhile are left out');
        layout = await this.compose(target, run.slot, run.at, present, run.notes, run.catchUp, true);
      }
      const publisher = this.parts.publishers[target.platform];
      if (!publisher) throw new PaperbotError('config', `Digest target ${target.name} posts to ${target.platform}, which is not configured: set ${PLATFORMS[target.platform].tokenSetting}.`);
      let mainRef: string | undefined;
      try {
        const posted = await publisher.publish(target.channel, layout, (main) => {
          mainRef = main.messageRef;
          // The channel message's papers are posted now; the thread's once its replies are.
          store.markSent(target.name, run.slot, main.messageRef, this.parts.clock().toISOString(), undefined, target.size);
        });
        mainRef ??= posted.messageRef;
        if (store.slot(target.name, run.slot)?.status !== 'sent') store.markSent(target.name, run.slot, posted.messageRef, this.parts.clock().toISOString());
        store.markAllPosted(target.name, run.slot);
      } catch (error) {
        if (mainRef === undefined) throw error;
        // The digest is in the channel; only its thread is incomplete. Never post it again, but
        // give the papers meant for the thread (and the "more" ones) back to the next digest.
        const returned = store.unpostFrom(target.name, run.slot, target.size);
        logger.error({ err: error, target: target.name, slot: run.slot, returned }, 'digest: posted, but the thread reply failed; its papers go into the next digest');
        return { ...base, status: 'sent', papers: papers - returned, messageRef: mainRef, detail: `thread reply failed, its ${returned} papers go into the next digest: ${(error as Error).message}` };
      }
      logger.info({ target: target.name, slot: run.slot, papers, messageRef: mainRef }, 'digest: posted');
      return { ...base, status: 'sent', papers, messageRef: mainRef };
    } catch (error) {
      const definite = error instanceof PaperbotError && (error.code === 'platform' || error.code === 'config');
      if (definite) {
        // The platform refused: nothing was posted, so the papers wait for the next digest.
        store.release(target.name, run.slot, 'failed', this.parts.clock().toISOString(), (error as Error).message);
        logger.error({ err: error, target: target.name, slot: run.slot }, 'digest: not posted; its papers go into the next digest');
        return { ...base, status: 'failed', papers, detail: (error as Error).message };
      }
      // We cannot tell whether the post reached the channel. Look once now; if it is not there
      // (yet), leave the claim: reconciliation settles it after the lease or on the next start.
      const settled = await this.settleNow(target, run.slot, marker);
      if (settled) return { ...base, status: 'sent', papers, messageRef: settled, detail: 'the post failed to answer, but it is in the channel' };
      logger.error({ err: error, target: target.name, slot: run.slot }, 'digest: posting failed midway; the next start checks the channel');
      return { ...base, status: 'pending', papers, detail: (error as Error).message };
    }
  }

  /** The ranked papers still in the store (none removed since they were picked), in order. */
  private stillStored(ranked: readonly RankedPaper[]): RankedPaper[] {
    const stored = new Set(this.parts.library.store.getByRowIds(ranked.map((r) => r.paper.rowId)).map((paper) => paper.rowId));
    return ranked.filter((r) => stored.has(r.paper.rowId));
  }

  /** The candidates' papers that came through one of the target's sources. */
  private papersFor(target: DigestTarget, candidates: readonly Candidate[]): Paper[] {
    const origins = new Map(candidates.map((c) => [c.rowId, c.origins]));
    return this.parts.library.store.getByRowIds(candidates.map((c) => c.rowId)).filter((paper) => fromTargetSources(target, paper, origins.get(paper.rowId) ?? []));
  }

  /** After an uncertain failure: the message reference if the digest is in the channel after all (then recorded as sent). */
  private async settleNow(target: DigestTarget, slot: string, marker: string): Promise<string | null> {
    const publisher = this.parts.publishers[target.platform];
    if (!publisher) return null;
    try {
      const ref = await publisher.findPosted(target.channel, marker);
      if (ref) this.parts.store.markSent(target.name, slot, ref, this.parts.clock().toISOString(), 'the post failed to answer, but it was found in the channel');
      return ref;
    } catch (error) {
      this.parts.logger.warn({ err: error, target: target.name, slot }, 'digest: cannot check the channel after a failed post');
      return null;
    }
  }

  private async compose(
    target: DigestTarget,
    slot: string,
    at: Date,
    ranked: readonly RankedPaper[],
    notes: readonly string[],
    catchUp: { missedSlots: number; since: Date } | undefined,
    useModel: boolean,
  ): Promise<DigestLayout> {
    const shown = ranked.slice(0, target.size + target.threadMax).map((r) => r.paper);
    const keyword = this.parts.library.keywordIndex;
    const written = await summarisePapers(shown, {
      summarizer: this.parts.summarizer,
      cache: this.parts.store,
      idf: (term) => keyword.idf(term),
      logger: this.parts.logger,
      useModel,
    });
    return buildDigestLayout({
      target,
      slot,
      at,
      ranked,
      summaries: written.summaries,
      notes: [...notes, ...written.notes],
      moreHint: this.parts.settings.moreHint(target),
      ...(catchUp ? { catchUp } : {}),
    });
  }

  /**
   * The next digest of each target (or the named one), laid out but neither posted nor recorded.
   * `gathered` is the report of a gather the caller ran first (the CLI's dry run), named in the footer; chat previews gather nothing.
   */
  async preview(options: { targetName?: string; useModel: boolean; targets?: readonly DigestTarget[]; gathered?: GatherReport }): Promise<PreviewEntry[]> {
    const targets = options.targets ?? (options.targetName ? [this.target(options.targetName)] : this.parts.targets);
    // The footer names what failed in the caller's gather; a chat preview gathers nothing.
    const report = options.gathered ?? { inbox: [], sources: [] };
    const now = this.parts.clock();
    const entries: PreviewEntry[] = [];
    for (const target of targets) {
      const record = this.parts.store.target(target.name) ?? this.parts.store.registerTarget(target.name, now.toISOString());
      const due = this.dueSlots(target, now);
      const next = this.parts.calendar.nextSlot(target.cron, target.timezone, now);
      const slotAt = due[0] ?? next ?? now;
      const candidates = this.parts.store.candidates({ target: target.name, afterRowId: record.firstSeenRowId, notBefore: new Date(now.getTime() - this.parts.settings.maxAgeDays * DAY_MS).toISOString() });
      const ranked = rankPapers(this.papersFor(target, candidates), target.topics);
      const catchUp = due.length > 1 ? { missedSlots: due.length, since: due[due.length - 1]! } : undefined;
      const notes = this.notesFor(target, report);
      const layout = await this.compose(target, slotAt.toISOString(), slotAt, ranked, notes, catchUp, options.useModel);
      entries.push({ target, slot: slotAt.toISOString(), nextAt: next?.toISOString() ?? null, wouldPost: !(layout.empty && target.empty === 'skip' && notes.length === 0), layout });
    }
    return entries;
  }

  /** For `/digest` and `/paperbot digest`: the next digest of the targets posting to this channel. */
  async chatPreview(request: { platform: Platform; channel: string; targetName?: string }): Promise<DigestPreviewResult> {
    let targets: DigestTarget[];
    if (request.targetName) {
      const named = this.parts.targets.find((t) => t.name === request.targetName);
      if (!named) return { ok: false, message: `No digest target is named "${request.targetName}". Configured: ${this.parts.targets.map((t) => t.name).join(', ') || 'none'}.` };
      targets = [named];
    } else {
      targets = this.parts.targets.filter((t) => t.platform === request.platform && t.channel === request.channel);
      if (!targets.length) {
        const names = this.parts.targets.map((t) => t.name);
        return { ok: false, message: `No digest posts to this channel.${names.length ? ` Configured targets: ${names.join(', ')} (name one to preview it).` : ''}` };
      }
    }
    const entries = await this.preview({ targets, useModel: false });
    return { ok: true, layouts: entries.map((e) => e.layout) };
  }

  /**
   * Settles claims left by a crash: one read of the channel's recent history tells whether the
   * digest (found by its marker) was posted. Posted: recorded as sent. Not posted: released, and
   * its papers go into the next digest. Claims of a live run elsewhere are left alone.
   */
  async reconcile(): Promise<{ target: string; slot: string; outcome: 'recorded' | 'released' | 'unknown' }[]> {
    const results: { target: string; slot: string; outcome: 'recorded' | 'released' | 'unknown' }[] = [];
    const now = this.parts.clock();
    for (const claim of this.parts.store.claimedSlots()) {
      const target = this.parts.targets.find((t) => t.name === claim.target);
      const expired = now.getTime() - new Date(claim.claimedAt).getTime() > this.parts.settings.claimLeaseMs;
      if (!target || (!expired && this.owner.isAlive(claim.owner))) continue;
      results.push({ target: claim.target, slot: claim.slot, outcome: await this.settle(target, claim) });
    }
    // A run that crashed while posting a thread: its channel message is recorded, the thread's papers are not.
    for (const sent of this.parts.store.sentSlotsWithPending()) {
      const expired = now.getTime() - new Date(sent.claimedAt).getTime() > this.parts.settings.claimLeaseMs;
      if (!expired && this.owner.isAlive(sent.owner)) continue;
      const returned = this.parts.store.releasePending(sent.target, sent.slot);
      this.parts.logger.warn({ target: sent.target, slot: sent.slot, returned }, 'digest: a run stopped while posting a thread; its papers go into the next digest');
    }
    return results;
  }

  private async settle(target: DigestTarget, claim: SlotRecord): Promise<'recorded' | 'released' | 'unknown'> {
    const { store, logger } = this.parts;
    const publisher = this.parts.publishers[target.platform];
    if (!publisher) return 'unknown';
    try {
      const ref = await publisher.findPosted(claim.channel, claim.marker);
      const now = this.parts.clock().toISOString();
      if (ref) {
        // The channel message is there; whether its thread was is not known, so the thread's
        // papers go into the next digest rather than risk being lost.
        store.markSent(claim.target, claim.slot, ref, now, 'reconciled after a crash: found in the channel', target.size);
        const returned = store.releasePending(claim.target, claim.slot);
        logger.warn({ target: claim.target, slot: claim.slot, messageRef: ref, returned }, 'digest: a crashed run had posted this digest; recorded it as sent (papers meant for its thread go into the next digest)');
        return 'recorded';
      }
      store.release(claim.target, claim.slot, 'abandoned', now, 'reconciled after a crash: not in the channel');
      logger.warn({ target: claim.target, slot: claim.slot }, 'digest: a crashed run had not posted this digest; its papers go into the next digest');
      return 'released';
    } catch (error) {
      logger.warn({ err: error, target: claim.target, slot: claim.slot }, 'digest: cannot check the channel for a crashed run; will try again');
      return 'unknown';
    }
  }

  /** What an operator checks: per target, its first sighting, last digests, next run and posted count; per source, its last fetch. */
  status(): DigestStatus {
    const now = this.parts.clock();
    const targets = this.parts.targets.map((target) => {
      const record = this.parts.store.target(target.name);
      const history = this.parts.store.history(target.name, 5);
      return {
        name: target.name,
        platform: target.platform,
        channel: target.channel,
        cron: target.cron,
        timezone: target.timezone,
        sources: target.sources,
        firstSeenAt: record?.firstSeenAt ?? null,
        nextAt: this.parts.calendar.nextSlot(target.cron, target.timezone, now)?.toISOString() ?? null,
        postedPapers: this.parts.store.postedCount(target.name),
        recent: history.map((slot) => ({ slot: slot.slot, kind: slot.kind, status: slot.status, messageRef: slot.messageRef, detail: slot.detail })),
      };
    });
    const keys = new Set<string>();
    for (const target of this.parts.targets) {
      for (const name of target.sources) {
        if (name === 'huggingface') keys.add(name);
        if (name === 'arxiv') keys.add(`arxiv:${[...target.arxivCategories].sort().join(',')}`);
      }
    }
    const sources = [...keys].map((key) => ({ source: key, ...this.parts.store.sourceState(key) }));
    return { targets, sources };
  }

  /** The papers of a target's latest posted digest, all of them (the "N more" included), for `--list`. */
  latestDigest(target: DigestTarget): { slot: SlotRecord; papers: { rowId: number; shown: boolean }[] } | null {
    const slot = this.parts.store.history(target.name, 50).find((s) => s.status === 'sent');
    if (!slot) return null;
    return { slot, papers: this.parts.store.slotPapers(target.name, slot.slot) };
  }

  private exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.running.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.running.set(key, next);
    void next.finally(() => {
      if (this.running.get(key) === next) this.running.delete(key);
    }).catch(() => undefined);
    return next;
  }

  /** Resolves when every run in progress has finished. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }
}
