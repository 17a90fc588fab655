/**
 * The daily digest's shared vocabulary: targets (from paperbot.digest.yml), the platform-neutral
 * layout a digest is rendered from, and the ports the digest runner talks through (paper
 * sources, publishers). Selection and layout are pure (`selection.ts`, `layout.ts`); each chat
 * platform renders a `DigestLayout` within its own limits and publishes it.
 */
import { PaperbotError } from '../errors.ts';
import type { Platform } from '../platforms.ts';
import type { PaperRecord } from '../rag/types.ts';

/** The chat platform a digest posts to: one of paperbot's platforms (`src/platforms.ts`). */
export type DigestSourceName = 'inbox' | 'huggingface' | 'arxiv';
export type EmptyDayPolicy = 'skip' | 'post';

/** One digest target, as configured in paperbot.digest.yml (keys camel-cased). */
export interface DigestTarget {
  name: string;
  platform: Platform;
  /** Channel id (Slack `C…`, Discord snowflake). */
  channel: string;
  cron: string;
  /** IANA zone the cron expression and the digest's date are read in. */
  timezone: string;
  /** Papers in the channel message. */
  size: number;
  /** At most this many more papers in the thread reply. */
  threadMax: number;
  topics: string[];
  empty: EmptyDayPolicy;
  sources: DigestSourceName[];
  arxivCategories: string[];
}

/** One paper as a digest shows it. All text is plain (unescaped, un-neutralised): renderers do that. */
export interface DigestItem {
  /** The paper's id (`2303.07001`, `t-…`), for `paperbot paper ID`. */
  id: string;
  title: string;
  /** A safe http(s) link to the paper, when there is one. */
  url?: string;
  /** Shortened author list, e.g. `A. Smith, B. Jones et al.`; empty when unknown. */
  authors: string;
  /** One line: the model's checked summary, or the abstract's most informative sentence. */
  summary: string;
  /** Why it was picked: `124 upvotes on Hugging Face`, `matches your topic "retrieval"`, `newest`. */
  why: string;
}

export interface DigestSection {
  /** A topic heading when the digest groups papers; absent for an ungrouped list. */
  heading?: string;
  items: DigestItem[];
}

/** A digest, laid out but not yet rendered for a platform. */
export interface DigestLayout {
  target: string;
  /** The scheduled slot (ISO instant) or `now:<ISO instant>` for `digest --now`. */
  slot: string;
  /**
   * A short text every rendering must carry verbatim in its main message (visible footer or
   * metadata), so one read of the channel's recent history tells whether this digest was posted.
   */
  marker: string;
  /** The header line, e.g. `Paper digest for Fri 27 Nov 2026: 12 new papers`. */
  header: string;
  /** The digest's date in the target's zone, `YYYY-MM-DD`. */
  date: string;
  /** Papers new in this digest (posted or not). */
  newCount: number;
  /** Set when this digest stands for several missed slots ("while I was away"). */
  catchUp?: { missedSlots: number; since: string };
  /** The channel message's papers (at most `size`), grouped under headings when many. */
  sections: DigestSection[];
  /** Papers for the thread reply (at most `threadMax`). */
  thread: DigestItem[];
  /** Papers beyond `size + threadMax`: how many, and one line saying how to list them. */
  more: { count: number; hint: string } | null;
  /** Footer lines: source failures (`Hugging Face daily papers failed: HTTP 500`), notices. */
  notes: string[];
  /** No new papers: the body says so (posted only when the target's `empty` is `post`). */
  empty: boolean;
}

/**
 * A live source of new papers (Hugging Face daily papers, arXiv). `fetch` returns the records to
 * ingest, deduplicated within the response; it rejects with a `SourceFailure` on timeout, HTTP
 * errors (429 after bounded `Retry-After` retries), or a malformed response. It never writes.
 */
export interface PaperSource {
  readonly name: Exclude<DigestSourceName, 'inbox'>;
  /** Human name for footers and logs: `Hugging Face daily papers`, `arXiv`. */
  readonly label: string;
  fetch(request: PaperSourceRequest): Promise<PaperRecord[]>;
}

export interface PaperSourceRequest {
  /** The run's time (injected clock). */
  now: Date;
  /** Fetch papers listed after this instant (the last successful fetch, bounded by the catch-up age). */
  since: Date;
  /** arXiv categories (`cs.CL`), for the arXiv source. */
  categories?: readonly string[];
  signal?: AbortSignal;
}

/** A source that could not deliver; `reason` is short and human (`HTTP 500`, `timed out after 20 s`). */
export class SourceFailure extends PaperbotError {
  override readonly name = 'SourceFailure';
  constructor(
    readonly source: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('source_failed', `${source} failed: ${reason}`, options);
  }
}

/** Where a posted digest lives: enough to find it again and to reply in its thread. */
export interface PostedDigest {
  /** Platform message reference: Slack `ts`, Discord message id. */
  messageRef: string;
}

/**
 * Posts digests to one chat platform. `publish` renders the layout within the platform's limits,
 * posts the main message (carrying `layout.marker`) and the overflow in a thread under it, and
 * resolves with the main message's reference. `onMainPosted` is called as soon as the main message
 * exists, before the thread replies, so the caller can record it. `findPosted` reads the channel's
 * recent history (one request) and returns the reference of a message carrying `marker`, or null.
 * Both reject with a `PaperbotError` saying what to fix (missing scope, unknown channel, bad token).
 */
export interface DigestPublisher {
  readonly platform: Platform;
  publish(channel: string, layout: DigestLayout, onMainPosted?: (posted: PostedDigest) => void): Promise<PostedDigest>;
  findPosted(channel: string, marker: string): Promise<string | null>;
}

/** What `/digest` (Discord) and `/paperbot digest` (Slack) show the asker, privately. */
export type DigestPreviewResult = { ok: true; layouts: DigestLayout[] } | { ok: false; message: string };

/**
 * Lays out the next digest of the targets posting to `channel` on `platform` (or the one named
 * `targetName`) without posting or recording anything. `ok: false` carries a message for the
 * asker (no digest configured here, unknown target name).
 */
export type DigestPreview = (request: { platform: Platform; channel: string; targetName?: string }) => Promise<DigestPreviewResult>;

/** What became of one inbox file. */
export interface InboxFileReport {
  file: string;
  added: number;
  updated: number;
  rejected: number;
  /** Set when the file could not be ingested (it was set aside, not lost). */
  error?: string;
}

/**
 * The drop folder of new papers. `scan` hands each waiting file to `ingest` exactly once, even
 * with two processes scanning, then files it away (ingested or set aside as unreadable), and
 * reports each. A file still being written waits for the next scan. `ingest` may reject; the
 * file is then set aside and the scan goes on.
 */
export interface InboxSource {
  readonly name: 'inbox';
  readonly label: string;
  /** With `leaveFiles` (a dry run) each file is ingested where it lies and left there for the real scan. */
  scan(ingest: (file: string) => Promise<{ added: number; updated: number; rejected: number }>, options?: { leaveFiles?: boolean }): Promise<InboxFileReport[]>;
}

/** A running schedule: stop it, or ask when it fires next. */
export interface CronTimer {
  stop(): void;
  nextRun(): Date | null;
}

/**
 * Cron expressions, read in an IANA time zone (`Europe/Berlin`). Slots are instants; `problem`
 * says why an expression cannot be used (null when it can). Timers started by `every` never run
 * two ticks at once, pass each tick the slot it stands for, and report a failed tick to
 * `onError` instead of throwing.
 */
export interface CronCalendar {
  problem(pattern: string, timezone?: string): string | null;
  /** The slots at or before `now`, newest first, at most `limit`. */
  slotsAtOrBefore(pattern: string, timezone: string, now: Date, limit: number): Date[];
  /** The first slot strictly after `after`, or null when there is none. */
  nextSlot(pattern: string, timezone: string, after: Date): Date | null;
  every(pattern: string, timezone: string, name: string, tick: (slot: Date | undefined) => Promise<void>, onError: (error: unknown) => void): CronTimer;
}
