/**
 * `PaperStore` on SQLite (better-sqlite3 12, WAL, one writer). A paper's row id never changes
 * once given and is never given again after the paper is removed, so indexes can use it as
 * their label; updates rewrite the row in place. Removals leave a tombstone (`removed_papers`)
 * stamped with their generation, so derived indexes catch up with removals as with additions.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { PaperbotError } from '../../errors.ts';
import { damagedDatabase } from './sqlite-database.ts';
import { paperIdentity } from '../../rag/paper.ts';
import type { PaperStamp, PaperStore } from '../../rag/ports.ts';
import { titleKey } from '../../rag/text.ts';

import type { Clock, Paper, PaperRecord, UpsertStatus } from '../../rag/types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS papers (
  row_id       INTEGER PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  title        TEXT NOT NULL,
  title_key    TEXT NOT NULL,
  abstract     TEXT NOT NULL,
  authors      TEXT NOT NULL DEFAULT '[]',
  url          TEXT,
  published    TEXT,
  categories   TEXT NOT NULL DEFAULT '[]',
  metadata     TEXT NOT NULL DEFAULT '{}',
  version      INTEGER,
  source       TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  added_at     TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  changed_generation INTEGER NOT NULL DEFAULT 0,
  arrival_batch INTEGER
);
CREATE INDEX IF NOT EXISTS papers_title_key ON papers(title_key);
CREATE INDEX IF NOT EXISTS papers_changed_generation ON papers(changed_generation);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One row per ingest run (a corpus file batch, an inbox scan, a live-source fetch). A bulk batch
-- (the shipped seed, a benchmark import) keeps its papers askable but out of channel digests.
CREATE TABLE IF NOT EXISTS ingest_batches (
  id         INTEGER PRIMARY KEY,
  origin     TEXT NOT NULL,
  started_at TEXT NOT NULL,
  added      INTEGER NOT NULL DEFAULT 0,
  bulk       INTEGER NOT NULL DEFAULT 0
);
-- Every origin a paper came through (inbox, cli, huggingface, arxiv, seed): a digest target takes
-- only papers from the sources it lists.
CREATE TABLE IF NOT EXISTS paper_sources (
  row_id INTEGER NOT NULL,
  origin TEXT NOT NULL,
  PRIMARY KEY (row_id, origin)
) WITHOUT ROWID;
-- Papers removed by paperbot remove: indexes read these to drop them, and new papers never
-- get a removed paper's row id (digest history and index labels stay unambiguous).
CREATE TABLE IF NOT EXISTS removed_papers (
  row_id             INTEGER PRIMARY KEY,
  id                 TEXT NOT NULL,
  removed_generation INTEGER NOT NULL,
  removed_at         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS removed_papers_generation ON removed_papers(removed_generation);
`;

interface PaperRow {
  row_id: number;
  id: string;
  title: string;
  abstract: string;
  authors: string;
  url: string | null;
  published: string | null;
  categories: string;
  metadata: string;
  version: number | null;
  source: string;
  content_hash: string;
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function toPaper(row: PaperRow): Paper {
  const paper: Paper = {
    rowId: row.row_id,
    id: row.id,
    title: row.title,
    abstract: row.abstract,
    authors: parseJson<string[]>(row.authors, []),
    categories: parseJson<string[]>(row.categories, []),
    metadata: parseJson<Record<string, unknown>>(row.metadata, {}),
    source: row.source,
  };
  if (row.url !== null) paper.url = row.url;
  if (row.published !== null) paper.published = row.published;
  if (row.version !== null) paper.version = row.version;
  return paper;
}

/** The upsert rule: a stale version, or the same version with the same content, changes nothing. */
function upsertStatus(existing: PaperStamp | undefined, version: number | undefined, hash: string): UpsertStatus {
  if (!existing) return 'added';
  const staleVersion = version !== undefined && existing.version !== null && version < existing.version;
  const sameVersion = version === undefined || version === existing.version;
  return staleVersion || (sameVersion && existing.contentHash === hash) ? 'unchanged' : 'updated';
}

function contentHash(record: PaperRecord): string {
  return createHash('sha256')
    .update(JSON.stringify([record.title, record.abstract, record.authors, record.url ?? null, record.published ?? null, record.categories, record.metadata]))
    .digest('hex');
}

export class SqlitePaperStore implements PaperStore {
  private readonly db: SqliteDatabase;
  private readonly statements: {
    byId: Statement<[string], PaperRow>;
    byRowId: Statement<[number], PaperRow>;
    byTitleKey: Statement<[string], PaperRow>;
    insert: Statement<Record<string, unknown>>;
    update: Statement<Record<string, unknown>>;
    count: Statement<[], { n: number }>;
    getMeta: Statement<[string], { value: string }>;
    setMeta: Statement<[string, string]>;
    all: Statement<[], PaperRow>;
    changedSince: Statement<[number, number, number], PaperRow>;
    countChangedSince: Statement<[number], { n: number }>;
    deletePaper: Statement<[number]>;
    deleteSources: Statement<[number]>;
    tombstone: Statement<[number, string, number, string]>;
    removedSince: Statement<[number], { row_id: number }>;
  };

  /** Creates or migrates the paper tables in `db` (from `openSqliteDatabase`). */
  constructor(
    db: SqliteDatabase,
    private readonly clock: Clock,
  ) {
    this.db = db;
    try {
      const legacyPapers = this.migrate();
      this.db.exec(SCHEMA);
      if (legacyPapers) {
        // Papers from before digests existed count as one bulk import: no digest posts them unasked.
        const batch = this.startIngestBatch('legacy', true);
        this.db.prepare('UPDATE papers SET arrival_batch = ? WHERE arrival_batch IS NULL').run(batch);
      }
    } catch (error) {
      throw damagedDatabase(db.name, error);
    }
    this.statements = {
      byId: this.db.prepare('SELECT * FROM papers WHERE id = ?'),
      byRowId: this.db.prepare('SELECT * FROM papers WHERE row_id = ?'),
      byTitleKey: this.db.prepare('SELECT * FROM papers WHERE title_key = ? ORDER BY row_id'),
      // The row id is chosen past every removed paper's too: SQLite alone would reuse the largest after a removal.
      insert: this.db.prepare(`INSERT INTO papers (row_id, id, title, title_key, abstract, authors, url, published, categories, metadata, version, source, content_hash, added_at, updated_at, changed_generation, arrival_batch)
        VALUES (max(coalesce((SELECT max(row_id) FROM papers), 0), coalesce((SELECT max(row_id) FROM removed_papers), 0)) + 1,
          @id, @title, @title_key, @abstract, @authors, @url, @published, @categories, @metadata, @version, @source, @content_hash, @now, @now, @generation, @batch)`),
      update: this.db.prepare(`UPDATE papers SET title = @title, title_key = @title_key, abstract = @abstract, authors = @authors, url = @url,
        published = @published, categories = @categories, metadata = @metadata, version = @version, source = @source,
        content_hash = @content_hash, updated_at = @now, changed_generation = @generation WHERE row_id = @row_id`),
      count: this.db.prepare('SELECT count(*) AS n FROM papers'),
      getMeta: this.db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      all: this.db.prepare('SELECT * FROM papers ORDER BY row_id'),
      changedSince: this.db.prepare('SELECT * FROM papers WHERE changed_generation > ? AND row_id > ? ORDER BY row_id LIMIT ?'),
      countChangedSince: this.db.prepare('SELECT count(*) AS n FROM papers WHERE changed_generation > ?'),
      deletePaper: this.db.prepare('DELETE FROM papers WHERE row_id = ?'),
      deleteSources: this.db.prepare('DELETE FROM paper_sources WHERE row_id = ?'),
      tombstone: this.db.prepare('INSERT INTO removed_papers (row_id, id, removed_generation, removed_at) VALUES (?, ?, ?, ?) ON CONFLICT(row_id) DO NOTHING'),
      removedSince: this.db.prepare('SELECT row_id FROM removed_papers WHERE removed_generation > ? ORDER BY row_id'),
    };
  }

  describe(): { location: string; bytes: number } {
    let bytes = 0;
    try {
      bytes = statSync(this.db.name).size;
    } catch {
      // An in-memory database has no file.
    }
    return { location: this.db.name, bytes };
  }

  upsert(record: PaperRecord, source: string, batch?: number): { status: UpsertStatus; paper: Paper } {
    const identity = paperIdentity(record);
    const existing = this.statements.byId.get(identity.id);
    const hash = contentHash(record);
    if (existing && upsertStatus({ version: existing.version, contentHash: existing.content_hash }, identity.version, hash) === 'unchanged') {
      return { status: 'unchanged', paper: toPaper(existing) };
    }
    const row = {
      id: identity.id,
      title: record.title,
      title_key: titleKey(record.title),
      abstract: record.abstract,
      authors: JSON.stringify(record.authors),
      url: record.url ?? null,
      published: record.published ?? null,
      categories: JSON.stringify(record.categories),
      metadata: JSON.stringify(record.metadata),
      version: identity.version ?? existing?.version ?? null,
      source,
      content_hash: hash,
      now: this.clock().toISOString(),
      generation: this.generation() + 1,
    };
    let rowId: number;
    if (existing) {
      this.statements.update.run({ ...row, row_id: existing.row_id });
      rowId = existing.row_id;
    } else {
      rowId = Number(this.statements.insert.run({ ...row, batch: batch ?? null }).lastInsertRowid);
    }
    this.bumpGeneration();
    const stored = this.statements.byRowId.get(rowId);
    if (!stored) throw new PaperbotError('internal', `Paper ${identity.id} vanished right after it was written.`);
    return { status: existing ? 'updated' : 'added', paper: toPaper(stored) };
  }

  previewUpsert(record: PaperRecord, seen: Map<string, PaperStamp>): UpsertStatus {
    const identity = paperIdentity(record);
    const hash = contentHash(record);
    const stored = this.statements.byId.get(identity.id);
    const existing = seen.get(identity.id) ?? (stored ? { version: stored.version, contentHash: stored.content_hash } : undefined);
    const status = upsertStatus(existing, identity.version, hash);
    if (status !== 'unchanged') seen.set(identity.id, { version: identity.version ?? existing?.version ?? null, contentHash: hash });
    return status;
  }

  remove(rowIds: readonly number[]): Paper[] {
    const removed: Paper[] = [];
    const now = this.clock().toISOString();
    this.transaction(() => {
      for (const rowId of new Set(rowIds)) {
        const row = this.statements.byRowId.get(rowId);
        if (!row) continue;
        const generation = this.generation() + 1;
        this.statements.deletePaper.run(rowId);
        this.statements.deleteSources.run(rowId);
        this.statements.tombstone.run(rowId, row.id, generation, now);
        this.bumpGeneration();
        removed.push(toPaper(row));
      }
    });
    return removed;
  }

  removedSince(generation: number): number[] {
    return this.statements.removedSince.all(generation).map((row) => row.row_id);
  }

  /**
   * IMMEDIATE, so the write lock is taken before the first read: a deferred transaction that
   * read first fails at once (SQLITE_BUSY) when another connection committed in between.
   */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }

  getById(id: string): Paper | undefined {
    const row = this.statements.byId.get(id.trim());
    return row ? toPaper(row) : undefined;
  }

  getByRowIds(rowIds: readonly number[]): Paper[] {
    const papers: Paper[] = [];
    for (const rowId of rowIds) {
      const row = this.statements.byRowId.get(rowId);
      if (row) papers.push(toPaper(row));
    }
    return papers;
  }

  findByTitle(title: string): Paper[] {
    return this.statements.byTitleKey.all(titleKey(title)).map(toPaper);
  }

  count(): number {
    return this.statements.count.get()?.n ?? 0;
  }

  generation(): number {
    return Number(this.getMeta('generation') ?? '0');
  }

  *iterate(): IterableIterator<Paper> {
    for (const row of this.statements.all.iterate()) yield toPaper(row);
  }

  changedSince(generation: number, afterRowId: number, limit: number): Paper[] {
    return this.statements.changedSince.all(generation, afterRowId, limit).map(toPaper);
  }

  countChangedSince(generation: number): number {
    return this.statements.countChangedSince.get(generation)?.n ?? 0;
  }

  startIngestBatch(origin: string, bulk: boolean): number {
    return Number(this.db.prepare('INSERT INTO ingest_batches (origin, started_at, bulk) VALUES (?, ?, ?)').run(origin, this.clock().toISOString(), bulk ? 1 : 0).lastInsertRowid);
  }

  updateIngestBatch(batch: number, added: number, bulk: boolean): void {
    this.db.prepare('UPDATE ingest_batches SET added = ?, bulk = max(bulk, ?) WHERE id = ?').run(added, bulk ? 1 : 0, batch);
  }

  noteOrigin(rowId: number, origin: string): void {
    this.db.prepare('INSERT INTO paper_sources (row_id, origin) VALUES (?, ?) ON CONFLICT DO NOTHING').run(rowId, origin);
  }

  getMeta(key: string): string | undefined {
    return this.statements.getMeta.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.statements.setMeta.run(key, value);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Brings a database made by an earlier paperbot up to this schema; true when its papers predate arrival batches. */
  private migrate(): boolean {
    const columns = this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('papers')").all();
    if (columns.length && !columns.some((column) => column.name === 'changed_generation')) {
      this.db.exec('ALTER TABLE papers ADD COLUMN changed_generation INTEGER NOT NULL DEFAULT 0');
    }
    if (columns.length && !columns.some((column) => column.name === 'arrival_batch')) {
      this.db.exec('ALTER TABLE papers ADD COLUMN arrival_batch INTEGER');
      return true;
    }
    return false;
  }

  private bumpGeneration(): void {
    this.setMeta('generation', String(this.generation() + 1));
  }
}
