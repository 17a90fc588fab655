/**
 * What the digest remembers, in the paper database: when each target was first seen, every slot
 * claimed (at most one post per target and slot, across restarts and processes), every paper
 * a target has been shown, cached summaries, and when each live source last delivered.
 *
 * Claiming is one IMMEDIATE transaction: the slot row is inserted with ON CONFLICT DO NOTHING,
 * and only the process whose insert changed a row picks the papers and marks them pending for
 * that slot. Two processes therefore never post the same slot or the same paper twice.
 */
import type { Database as SqliteDatabase } from 'better-sqlite3';
import type { Candidate, CandidateQuery, ClaimRequest, DigestStore, SlotKind, SlotRecord, SlotStatus, TargetRecord } from '../../digest/digest-store.ts';

export type { Candidate, CandidateQuery, ClaimRequest, SlotKind, SlotRecord, SlotStatus, TargetRecord } from '../../digest/digest-store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS digest_targets (
  name              TEXT PRIMARY KEY,
  first_seen_at     TEXT NOT NULL,
  first_seen_row_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS digest_slots (
  target      TEXT NOT NULL,
  slot        TEXT NOT NULL,
  kind        TEXT NOT NULL,
  status      TEXT NOT NULL,
  owner       TEXT NOT NULL,
  claimed_at  TEXT NOT NULL,
  channel     TEXT NOT NULL,
  marker      TEXT NOT NULL,
  message_ref TEXT,
  finished_at TEXT,
  detail      TEXT,
  PRIMARY KEY (target, slot)
);
CREATE TABLE IF NOT EXISTS digest_papers (
  target   TEXT NOT NULL,
  row_id   INTEGER NOT NULL,
  slot     TEXT NOT NULL,
  state    TEXT NOT NULL,
  position INTEGER NOT NULL,
  shown    INTEGER NOT NULL,
  PRIMARY KEY (target, row_id)
);
CREATE INDEX IF NOT EXISTS digest_papers_by_slot ON digest_papers(target, slot);
CREATE TABLE IF NOT EXISTS digest_summaries (
  row_id        INTEGER NOT NULL,
  abstract_hash TEXT NOT NULL,
  writer        TEXT NOT NULL,
  summary       TEXT NOT NULL,
  PRIMARY KEY (row_id, abstract_hash, writer)
);
CREATE TABLE IF NOT EXISTS digest_sources (
  source          TEXT PRIMARY KEY,
  last_success_at TEXT,
  last_attempt_at TEXT,
  last_error      TEXT
);
`;

interface SlotRow {
  target: string;
  slot: string;
  kind: SlotKind;
  status: SlotStatus;
  owner: string;
  claimed_at: string;
  channel: string;
  marker: string;
  message_ref: string | null;
  detail: string | null;
}

const toSlot = (row: SlotRow): SlotRecord => ({
  target: row.target,
  slot: row.slot,
  kind: row.kind,
  status: row.status,
  owner: row.owner,
  claimedAt: row.claimed_at,
  channel: row.channel,
  marker: row.marker,
  messageRef: row.message_ref,
  detail: row.detail,
});

export class SqliteDigestStore implements DigestStore {
  constructor(private readonly db: SqliteDatabase) {
    db.exec(SCHEMA);
  }

  /** Records the target's first sighting (now, and the newest paper so far) unless already known. */
  registerTarget(name: string, now: string): TargetRecord {
    this.db
      .prepare('INSERT INTO digest_targets (name, first_seen_at, first_seen_row_id) VALUES (?, ?, (SELECT coalesce(max(row_id), 0) FROM papers)) ON CONFLICT(name) DO NOTHING')
      .run(name, now);
    return this.target(name)!;
  }

  target(name: string): TargetRecord | undefined {
    const row = this.db.prepare<[string], { name: string; first_seen_at: string; first_seen_row_id: number }>('SELECT * FROM digest_targets WHERE name = ?').get(name);
    return row ? { name: row.name, firstSeenAt: row.first_seen_at, firstSeenRowId: row.first_seen_row_id } : undefined;
  }

  /**
   * Row ids of the papers a target's next digest covers, oldest arrival first: arrived after its
   * first sighting (or since a backfill date), not from a bulk import (unless backfilling), not
   * too old, and never shown to or pending for this target.
   */
  candidates(query: CandidateQuery): Candidate[] {
    const conditions = ['p.added_at >= @notBefore', 'NOT EXISTS (SELECT 1 FROM digest_papers d WHERE d.target = @target AND d.row_id = p.row_id)'];
    const params: Record<string, string | number> = { target: query.target, notBefore: query.notBefore };
    if (query.since !== undefined) {
      // A backfill takes bulk imports too (asked for on purpose), but never the shipped seed (demo
      // data is not news) nor papers from before digests existed (they may include it).
      conditions.push('p.added_at >= @since', `NOT EXISTS (SELECT 1 FROM ingest_batches b WHERE b.id = p.arrival_batch AND b.origin IN ('seed', 'legacy'))`);
      params['since'] = query.since;
    } else {
      conditions.push('p.row_id > @afterRowId', 'EXISTS (SELECT 1 FROM ingest_batches b WHERE b.id = p.arrival_batch AND b.bulk = 0)');
      params['afterRowId'] = query.afterRowId ?? 0;
    }
    return this.db
      .prepare<Record<string, string | number>, { row_id: number; origins: string | null }>(
        `SELECT p.row_id, (SELECT group_concat(s.origin) FROM paper_sources s WHERE s.row_id = p.row_id) AS origins FROM papers p WHERE ${conditions.join(' AND ')} ORDER BY p.row_id`,
      )
      .all(params)
      .map((row) => ({ rowId: row.row_id, origins: row.origins ? row.origins.split(',') : [] }));
  }

  /**
   * Claims a slot; null when another run already holds it. Inside the same transaction `choose`
   * orders the candidates and says how many will be shown; all of them are marked pending for
   * this slot, so no concurrent digest of the target can take them.
   */
  claim<T extends { order: readonly number[]; shown: number }>(request: ClaimRequest, choose: (candidates: Candidate[]) => T): T | null {
    const run = this.db.transaction((): T | null => {
      const inserted = this.db
        .prepare(`INSERT INTO digest_slots (target, slot, kind, status, owner, claimed_at, channel, marker) VALUES (?, ?, ?, 'claimed', ?, ?, ?, ?) ON CONFLICT(target, slot) DO NOTHING`)
        .run(request.target, request.slot, request.kind, request.owner, request.now, request.channel, request.marker);
      if (inserted.changes === 0) return null;
      const merge = this.db.prepare(
        `INSERT INTO digest_slots (target, slot, kind, status, owner, claimed_at, channel, marker, finished_at, detail) VALUES (?, ?, 'merged', 'merged', ?, ?, ?, '', ?, ?) ON CONFLICT(target, slot) DO NOTHING`,
      );
      for (const slot of request.merges ?? []) merge.run(request.target, slot, request.owner, request.now, request.channel, request.now, `covered by ${request.slot}`);
      const plan = choose(this.candidates(request.candidates));
      const mark = this.db.prepare(`INSERT INTO digest_papers (target, row_id, slot, state, position, shown) VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT(target, row_id) DO NOTHING`);
      plan.order.forEach((rowId, position) => mark.run(request.target, rowId, request.slot, position, position < plan.shown ? 1 : 0));
      return plan;
    });
    return run.immediate();
  }

  /**
   * The message exists: the slot is sent and its reserved papers are posted for good, or with
   * `upToPosition` only those shown in the channel message (the thread's stay reserved until
   * `markAllPosted`, so a crash in between cannot lose them).
   */
  markSent(target: string, slot: string, messageRef: string, now: string, detail?: string, upToPosition?: number): void {
    this.db.transaction(() => {
      this.db.prepare(`UPDATE digest_slots SET status = 'sent', message_ref = ?, finished_at = ?, detail = ? WHERE target = ? AND slot = ?`).run(messageRef, now, detail ?? null, target, slot);
      this.db.prepare(`UPDATE digest_papers SET state = 'posted' WHERE target = ? AND slot = ? AND position < ?`).run(target, slot, upToPosition ?? Number.MAX_SAFE_INTEGER);
    })();
  }

  markAllPosted(target: string, slot: string): void {
    this.db.prepare(`UPDATE digest_papers SET state = 'posted' WHERE target = ? AND slot = ?`).run(target, slot);
  }

  /** Sent slots whose thread papers are still reserved: a run is posting the thread, or crashed while it did. */
  sentSlotsWithPending(): SlotRecord[] {
    return this.db
      .prepare<[], SlotRow>(`SELECT * FROM digest_slots s WHERE status = 'sent' AND EXISTS (SELECT 1 FROM digest_papers d WHERE d.target = s.target AND d.slot = s.slot AND d.state = 'pending')`)
      .all()
      .map(toSlot);
  }

  /** Frees a slot's still-reserved papers for the next digest; returns how many. */
  releasePending(target: string, slot: string): number {
    return this.db.prepare(`DELETE FROM digest_papers WHERE target = ? AND slot = ? AND state = 'pending'`).run(target, slot).changes;
  }

  /** Nothing was posted for the slot (empty day, refused, or found missing after a crash): its papers go into the next digest. */
  release(target: string, slot: string, status: Exclude<SlotStatus, 'claimed' | 'sent' | 'merged'>, now: string, detail: string): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE digest_slots SET status = ?, finished_at = ?, detail = ? WHERE target = ? AND slot = ?').run(status, now, detail, target, slot);
      this.db.prepare(`DELETE FROM digest_papers WHERE target = ? AND slot = ? AND state = 'pending'`).run(target, slot);
    })();
  }

  /** Forgets a sent slot's papers from `position` on (a thread that never got posted); returns how many. */
  unpostFrom(target: string, slot: string, position: number): number {
    return this.db.prepare('DELETE FROM digest_papers WHERE target = ? AND slot = ? AND position >= ?').run(target, slot, position).changes;
  }

  slot(target: string, slot: string): SlotRecord | undefined {
    const row = this.db.prepare<[string, string], SlotRow>('SELECT * FROM digest_slots WHERE target = ? AND slot = ?').get(target, slot);
    return row ? toSlot(row) : undefined;
  }

  /** Slots left `claimed` (a run in progress, or one that crashed), oldest first. */
  claimedSlots(): SlotRecord[] {
    return this.db.prepare<[], SlotRow>(`SELECT * FROM digest_slots WHERE status = 'claimed' ORDER BY claimed_at`).all().map(toSlot);
  }

  /** The latest scheduled (or merged) slot of a target that any run has handled, as an ISO instant. */
  latestScheduledSlot(target: string): string | undefined {
    return this.db.prepare<[string], { slot: string | null }>(`SELECT max(slot) AS slot FROM digest_slots WHERE target = ? AND kind IN ('scheduled', 'merged')`).get(target)?.slot ?? undefined;
  }

  /** Slot records of a target, newest claim first. */
  history(target: string, limit = 20): SlotRecord[] {
    return this.db.prepare<[string, number], SlotRow>('SELECT * FROM digest_slots WHERE target = ? ORDER BY claimed_at DESC, slot DESC LIMIT ?').all(target, limit).map(toSlot);
  }

  /** Row ids of a slot's papers in digest order, and whether each was shown (else only counted). */
  slotPapers(target: string, slot: string): { rowId: number; shown: boolean; state: string }[] {
    return this.db
      .prepare<[string, string], { row_id: number; shown: number; state: string }>('SELECT row_id, shown, state FROM digest_papers WHERE target = ? AND slot = ? ORDER BY position')
      .all(target, slot)
      .map((row) => ({ rowId: row.row_id, shown: row.shown === 1, state: row.state }));
  }

  /** How many papers have been posted to a target in all. */
  postedCount(target: string): number {
    return this.db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM digest_papers WHERE target = ? AND state = 'posted'`).get(target)?.n ?? 0;
  }

  summary(rowId: number, abstractHash: string, writer: string): string | undefined {
    return this.db.prepare<[number, string, string], { summary: string }>('SELECT summary FROM digest_summaries WHERE row_id = ? AND abstract_hash = ? AND writer = ?').get(rowId, abstractHash, writer)?.summary;
  }

  saveSummary(rowId: number, abstractHash: string, writer: string, summary: string): void {
    this.db.prepare('INSERT INTO digest_summaries (row_id, abstract_hash, writer, summary) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET summary = excluded.summary').run(rowId, abstractHash, writer, summary);
  }

  sourceState(source: string): { lastSuccessAt?: string; lastAttemptAt?: string; lastError?: string } {
    const row = this.db.prepare<[string], { last_success_at: string | null; last_attempt_at: string | null; last_error: string | null }>('SELECT * FROM digest_sources WHERE source = ?').get(source);
    if (!row) return {};
    return {
      ...(row.last_success_at ? { lastSuccessAt: row.last_success_at } : {}),
      ...(row.last_attempt_at ? { lastAttemptAt: row.last_attempt_at } : {}),
      ...(row.last_error ? { lastError: row.last_error } : {}),
    };
  }

  recordSourceAttempt(source: string, now: string, error: string | null): void {
    this.db
      .prepare(
        `INSERT INTO digest_sources (source, last_success_at, last_attempt_at, last_error) VALUES (@source, CASE WHEN @error IS NULL THEN @now END, @now, @error)
         ON CONFLICT(source) DO UPDATE SET last_attempt_at = @now, last_error = @error, last_success_at = CASE WHEN @error IS NULL THEN @now ELSE last_success_at END`,
      )
      .run({ source, now, error });
  }
}
