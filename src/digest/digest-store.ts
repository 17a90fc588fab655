/**
 * The digest's memory, as a port: target sightings, slot claims, the papers each target has been
 * shown, cached summaries and source fetch state. `SqliteDigestStore` implements it in the paper
 * database. Every write is durable when the call returns.
 */

/** `scheduled`: a cron slot; `now`: `digest --now`; `merged`: a missed slot folded into a catch-up. */
export type SlotKind = 'scheduled' | 'now' | 'merged';
/**
 * `claimed` → `sent` (posted), `skipped` (empty day, `empty: skip`), `failed` (the platform
 * refused; nothing was posted), `abandoned` (a crashed claim found not posted); `merged` slots
 * were covered by a later catch-up digest.
 */
export type SlotStatus = 'claimed' | 'sent' | 'skipped' | 'failed' | 'abandoned' | 'merged';

export interface SlotRecord {
  target: string;
  slot: string;
  kind: SlotKind;
  status: SlotStatus;
  owner: string;
  claimedAt: string;
  channel: string;
  marker: string;
  messageRef: string | null;
  detail: string | null;
}

export interface TargetRecord {
  name: string;
  firstSeenAt: string;
  /** Papers with a larger row id arrived after the target was first seen. */
  firstSeenRowId: number;
}

export interface CandidateQuery {
  target: string;
  /** Papers that arrived after this row id (the target's first sighting)... */
  afterRowId?: number;
  /** ...or, for a deliberate backfill, on or after this instant (bulk imports included, the shipped seed never). */
  since?: string;
  /** Nothing that arrived before this instant (the catch-up age). */
  notBefore: string;
}

/** A paper a digest may cover, with every origin it came through. */
export interface Candidate {
  rowId: number;
  origins: string[];
}

export interface ClaimRequest {
  target: string;
  slot: string;
  kind: Exclude<SlotKind, 'merged'>;
  owner: string;
  now: string;
  channel: string;
  marker: string;
  candidates: CandidateQuery;
  /** Earlier missed scheduled slots this digest stands for; recorded as `merged`. */
  merges?: readonly string[];
}

/**
 * The digest's memory. Every write is durable when the call returns and visible to other
 * processes on the same data directory; times (`now`) are ISO instants from the caller's clock,
 * never read here. `registerTarget` and `saveSummary` are idempotent; `claim` is atomic across
 * processes (at most one claimer per target and slot). Errors are the store's own (disk, locks).
 */
export interface DigestStore {
  /** Records a target's first sighting (now, and the newest paper row so far) unless known; returns the record. */
  registerTarget(name: string, now: string): TargetRecord;
  target(name: string): TargetRecord | undefined;
  /** Papers a target's next digest may cover, oldest arrival first (see `CandidateQuery`). */
  candidates(query: CandidateQuery): Candidate[];
  /**
   * Claims a slot atomically across processes; null when it is already claimed. `choose` runs
   * inside the claim, orders the candidates and says how many are shown; all of them are reserved
   * for this slot so no concurrent digest of the target takes them.
   */
  claim<T extends { order: readonly number[]; shown: number }>(request: ClaimRequest, choose: (candidates: Candidate[]) => T): T | null;
  /**
   * The channel message exists: the slot is sent and its reserved papers are posted for good; with
   * `upToPosition`, only those before it (the channel message's), the rest staying reserved.
   */
  markSent(target: string, slot: string, messageRef: string, now: string, detail?: string, upToPosition?: number): void;
  /** The thread is posted too: every reserved paper of the slot is posted. */
  markAllPosted(target: string, slot: string): void;
  /** Sent slots with papers still reserved (a thread being posted, or cut off by a crash). */
  sentSlotsWithPending(): SlotRecord[];
  /** Frees a slot's still-reserved papers for the next digest; returns how many. */
  releasePending(target: string, slot: string): number;
  /** Nothing was posted for the slot: its reserved papers are free for the next digest. */
  release(target: string, slot: string, status: Exclude<SlotStatus, 'claimed' | 'sent' | 'merged'>, now: string, detail: string): void;
  /** Frees a sent slot's papers from digest position `position` on (a thread never posted); returns how many. */
  unpostFrom(target: string, slot: string, position: number): number;
  slot(target: string, slot: string): SlotRecord | undefined;
  /** Slots still `claimed` (running, or left by a crash), oldest first. */
  claimedSlots(): SlotRecord[];
  /** The newest scheduled or merged slot any run has handled, as an ISO instant. */
  latestScheduledSlot(target: string): string | undefined;
  history(target: string, limit?: number): SlotRecord[];
  slotPapers(target: string, slot: string): { rowId: number; shown: boolean; state: string }[];
  /** How many papers have been posted to a target in all. */
  postedCount(target: string): number;
  summary(rowId: number, abstractHash: string, writer: string): string | undefined;
  saveSummary(rowId: number, abstractHash: string, writer: string, summary: string): void;
  sourceState(source: string): { lastSuccessAt?: string; lastAttemptAt?: string; lastError?: string };
  recordSourceAttempt(source: string, now: string, error: string | null): void;
}
