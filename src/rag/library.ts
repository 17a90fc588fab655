/**
 * The paper library: the store plus the indexes derived from it, kept in step. Opening it
 * loads the keyword index (catching it up with the store, or rebuilding it when it is missing
 * or corrupt), ingests the shipped corpus into an empty store, and opens the vector index.
 * Ingest and removal go through here, so a paper is searchable (or gone) as soon as its batch
 * commits.
 *
 * Concurrency: every write (ingest, remove, rebuild, the seed) runs holding the data directory's
 * write lock, one at a time in this process too, and starts by catching the indexes up with what
 * other processes committed. Indexes are saved only while the lock is held, stamped with the
 * store generation they fully cover; a reader catches up in memory and saves only when the lock
 * happens to be free (it never waits for it). `watchStore` (serve) follows other processes'
 * changes in memory and never writes index files.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { PaperbotError } from '../errors.ts';
import { readCorpusFile } from './corpus/read-corpus-file.ts';
import { checkRecord, DEFAULT_CORPUS_LIMITS, type CorpusFormat, type CorpusLimits } from './corpus/formats.ts';
import type { KeywordIndexManager } from './keyword-index-manager.ts';
import type { KeywordIndex, PaperStamp, PaperStore, WriteLock, WriteLockHold } from './ports.ts';
import { silentProgress } from './progress.ts';
import type { Clock, PaperRecord, ProgressReporter, UpsertStatus } from './types.ts';
import type { VectorIndexManager } from './vector-index-manager.ts';

export interface RejectedRecord {
  line: number;
  reason: string;
}

export interface IngestFileReport {
  file: string;
  /**
   * The detected (or forced) format; `unknown` when the file held nothing to detect it from;
   * `fetched` for records a live source fetched (their `file` is the source's name).
   */
  format: CorpusFormat | 'unknown' | 'fetched';
  added: number;
  updated: number;
  unchanged: number;
  rejected: RejectedRecord[];
}

export interface IngestReport {
  /** True when nothing was written: the counts say what an ingest would do. */
  dryRun: boolean;
  files: IngestFileReport[];
  totals: { added: number; updated: number; unchanged: number; rejected: number };
  /** Papers in the library after the ingest (after it would have run, for a dry run). */
  papers: number;
}

export interface RemoveReport {
  /** The papers removed from the store and both indexes. */
  removed: { id: string; title: string }[];
  /** The ids asked for that name no stored paper (nothing to remove). */
  notFound: string[];
  /** Papers left in the library. */
  papers: number;
}

export interface LibraryParts {
  dataDir: string;
  store: PaperStore;
  keywords: KeywordIndexManager;
  /** The vector index and the embedders that build it; null for keyword-only libraries. */
  vectors: VectorIndexManager | null;
  /** Ingested into an empty store on first open; null for none (evaluation stores). */
  shippedCorpusDir: string | null;
  clock: Clock;
  progress?: ProgressReporter;
  /** One-line notices for the user (stderr in the CLI). */
  notify?: (message: string) => void;
  logger?: Logger;
  /**
   * A file ingest that adds more papers than this is a bulk import (a benchmark, a whole
   * archive): its papers are askable but never posted by a digest unless backfilled on purpose.
   */
  bulkImportPapers?: number;
  /** The data directory's write lock, held by every write; none: this process is the only writer. */
  writeLock?: WriteLock;
  /** Open without writing anything: no seed, no index saves (`ingest --dry-run`). */
  readOnly?: boolean;
  /** Size limits every ingested record is checked against (MAX_RECORD_BYTES, MAX_ABSTRACT_CHARS); unset: the defaults. */
  corpusLimits?: Partial<CorpusLimits>;
}

const BATCH_SIZE = 2000;
const DEFAULT_BULK_IMPORT_PAPERS = 500;

/** Where an ingest comes from, and whether its papers may appear in channel digests. */
export interface IngestOrigin {
  /** `cli`, `seed`, `inbox`, `huggingface`, `arxiv`: kept with the batch for the log and `stats`. */
  name: string;
  /** `auto`: bulk once it adds more than `bulkImportPapers`; `always` (the seed); `never` (live sources). */
  bulk: 'auto' | 'always' | 'never';
}

/** Counts a batch's new papers and decides, inside each write transaction, when it becomes bulk. */
class ArrivalBatch {
  added = 0;
  constructor(
    private readonly store: PaperStore,
    readonly origin: IngestOrigin,
    private readonly bulkImportPapers: number,
    readonly id: number = store.startIngestBatch(origin.name, origin.bulk === 'always'),
  ) {}

  /** Call inside the transaction that wrote the papers, so no reader sees them before the flag. */
  record(added: number): void {
    this.added += added;
    this.store.updateIngestBatch(this.id, this.added, this.origin.bulk === 'always' || (this.origin.bulk === 'auto' && this.added > this.bulkImportPapers));
  }
}

export class PaperLibrary {
  readonly dataDir: string;
  readonly store: PaperStore;
  readonly keywords: KeywordIndexManager;
  readonly vectors: VectorIndexManager | null;
  /** Writes of this process, one at a time (the write lock is per process, not per call). */
  private writeQueue: Promise<unknown> = Promise.resolve();
  private writesInProgress = 0;
  /** Set inside a write of this process: nested writes run within it (same lock, saved once at its end). */
  private readonly insideWrite = new AsyncLocalStorage<true>();
  private watchTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly parts: LibraryParts) {
    this.dataDir = parts.dataDir;
    this.store = parts.store;
    this.keywords = parts.keywords;
    this.vectors = parts.vectors;
  }

  /** The current keyword index (a rebuild replaces it: read it at call time). */
  get keywordIndex(): KeywordIndex {
    return this.keywords.index;
  }

  /**
   * Brings the indexes in step with the store: loads (or rebuilds) the keyword index, ingests
   * the shipped corpus into an empty store, then loads (or builds) the vector index.
   */
  async open(): Promise<void> {
    // The vector index is the largest file: its read starts on the thread pool while the keyword index loads.
    this.vectors?.preload();
    // A read-only library (a dry run) only compares records with the store: loading, and maybe
    // rebuilding, the keyword index would be work for nothing.
    if (!this.parts.readOnly) this.keywords.open();
    const { shippedCorpusDir, notify } = this.parts;
    const unseeded = () => !this.parts.readOnly && shippedCorpusDir !== null && this.store.count() === 0 && this.store.getMeta('seeded_at') === undefined;
    if (!unseeded()) {
      await this.vectors?.open();
      if (!this.parts.readOnly) await this.saveIfFree();
      return;
    }
    await this.writing(async () => {
      // Another first run may have seeded while this one waited for the lock.
      if (unseeded() && shippedCorpusDir) {
        notify?.(`First run: ingesting the shipped corpus from ${path.relative(process.cwd(), shippedCorpusDir) || shippedCorpusDir}.`);
        // The vector index is built once, after seeding, so the seed is not embedded twice.
        await this.ingestLocked(listCorpusFiles(shippedCorpusDir), { origin: { name: 'seed', bulk: 'always' } }, { embed: false });
        this.store.setMeta('seeded_at', this.parts.clock().toISOString());
      }
      await this.vectors?.open();
    });
  }

  /**
   * Runs `work` holding the write lock, after this process's earlier writes, with the indexes
   * first caught up with what other processes committed; saves both indexes before letting go.
   */
  private writing<T>(work: () => Promise<T>): Promise<T> {
    if (this.insideWrite.getStore()) return work();
    const run = this.writeQueue.catch(() => undefined).then(async () => {
      this.writesInProgress += 1;
      let hold: WriteLockHold | undefined;
      try {
        hold = await this.parts.writeLock?.acquire();
        this.keywords.catchUp();
        let result: T;
        try {
          result = await this.insideWrite.run(true, work);
        } catch (error) {
          // Whatever was committed stays searchable, even when a later file failed.
          this.saveQuietly();
          throw error;
        }
        this.saveIndexes();
        return result;
      } finally {
        hold?.release();
        this.writesInProgress -= 1;
      }
    });
    this.writeQueue = run;
    return run;
  }

  /**
   * Runs `work` holding the write lock (a digest's inbox scan: the lock is taken before any file
   * is claimed, so a busy lock leaves the files where they are); ingests inside it share it.
   */
  withWriteLock<T>(work: () => Promise<T>): Promise<T> {
    return this.writing(work);
  }

  private saveIndexes(): void {
    if (this.parts.readOnly) return;
    this.keywords.save();
    this.vectors?.save();
  }

  /** After a failed write: save what is covered, without hiding the write's own error. */
  private saveQuietly(): void {
    try {
      this.saveIndexes();
    } catch (error) {
      this.parts.logger?.warn({ err: error }, 'could not save the indexes after a failed write');
    }
  }

  /**
   * A reader that caught its indexes up saves them when no writer is at work (so the next
   * process starts in step); when one is, it keeps them in memory: that writer saves its own.
   */
  private async saveIfFree(): Promise<void> {
    if (!this.keywords.unsaved && !this.vectors?.unsaved) return;
    const hold = this.parts.writeLock ? this.parts.writeLock.tryAcquire() : { release: () => undefined };
    if (!hold) return;
    try {
      // A writer may have committed between this process's catch-up and the lock.
      this.keywords.catchUp();
      await this.vectors?.catchUp();
      this.saveIndexes();
    } catch (error) {
      this.parts.logger?.warn({ err: error }, 'could not save the caught-up indexes; they are caught up again on the next open');
    } finally {
      hold.release();
    }
  }

  /**
   * Follows papers other processes add or remove (`serve`): every `intervalMs` the store's
   * generation is read and, when it moved, the in-memory indexes catch up. Index files are
   * not written (the process that changed the store saved them). The timer does not keep the
   * process alive; `close` stops it.
   */
  watchStore(intervalMs: number): void {
    this.stopWatching();
    this.watchTimer = setInterval(() => void this.refresh(), intervalMs);
    this.watchTimer.unref();
  }

  stopWatching(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
  }

  /** Catches the in-memory indexes up with the store now (what a `watchStore` tick does). */
  refresh(): Promise<void> {
    // A write of this process catches up itself, under the lock.
    if (this.refreshing || this.writesInProgress > 0) return this.refreshing ?? Promise.resolve();
    const run = (async () => {
      try {
        const generation = this.store.generation();
        const vectorsBehind = this.vectors?.state.kind === 'ready' && this.vectors.covered !== generation;
        if (this.keywords.coveredGeneration === generation && !vectorsBehind) return;
        const applied = this.keywords.catchUp();
        const vectors = await this.vectors?.catchUp({ quiet: true });
        this.parts.logger?.info({ generation, keywordChanges: applied, embedded: vectors?.embedded ?? 0 }, 'caught up with papers changed by another process');
      } catch (error) {
        this.parts.logger?.warn({ err: error }, 'could not catch up with the paper store; trying again on the next poll');
      }
    })();
    this.refreshing = run;
    void run.finally(() => {
      if (this.refreshing === run) this.refreshing = undefined;
    });
    return run;
  }

  /**
   * Ingests files and directories (recursively). Every path is checked before anything is
   * written; a missing path is a `not_found` error. Bad records are reported, never fatal.
   */
  async ingest(paths: readonly string[], options: { format?: CorpusFormat; origin?: IngestOrigin } = {}): Promise<IngestReport> {
    // Every path is checked (a missing one throws) before the lock is taken or anything is written.
    const files = paths.flatMap((p) => listCorpusFiles(p));
    return this.writing(() => this.ingestLocked(files, options, { embed: true }));
  }

  /**
   * What `ingest` would do with the files: every record parsed and compared with the store, and
   * nothing written (no papers, no batch, no index). Needs no lock.
   */
  async dryRunIngest(paths: readonly string[], options: { format?: CorpusFormat } = {}): Promise<IngestReport> {
    const files = paths.flatMap((p) => listCorpusFiles(p));
    const seen = new Map<string, PaperStamp>();
    // On a directory not seeded yet, a real ingest would first ingest the shipped corpus: so the
    // preview starts from it too (the report's files are only the ones asked for).
    let seeded = 0;
    const { shippedCorpusDir } = this.parts;
    if (shippedCorpusDir !== null && this.store.count() === 0 && this.store.getMeta('seeded_at') === undefined) {
      for (const file of listCorpusFiles(shippedCorpusDir)) {
        await this.readFile(file, undefined, (records) => {
          for (const record of records) if (this.store.previewUpsert(record, seen) === 'added') seeded += 1;
        }, silentProgress);
      }
    }
    const reports: IngestFileReport[] = [];
    for (const file of files) {
      reports.push(
        await this.readFile(file, options.format, (records, report) => {
          for (const record of records) count(report, this.store.previewUpsert(record, seen));
        }),
      );
    }
    const report = summarise(reports, 0, true);
    report.papers = this.store.count() + seeded + report.totals.added;
    return report;
  }

  /** `ingest` of corpus files (already listed) with the lock held (the seed, inside `open`, takes it itself). */
  private async ingestLocked(files: readonly string[], options: { format?: CorpusFormat; origin?: IngestOrigin }, indexing: { embed: boolean }): Promise<IngestReport> {
    const reports: IngestFileReport[] = [];
    const batch = this.arrivalBatch(options.origin ?? { name: 'cli', bulk: 'auto' });
    try {
      for (const file of files) reports.push(await this.readFile(file, options.format, (records, report) => this.writeBatch(records, path.basename(file), batch, report)));
    } finally {
      if (indexing.embed) await this.vectors?.catchUp();
    }
    return summarise(reports, this.store.count(), false);
  }

  /**
   * Removes papers (by paper id) from the store and both indexes, under the write lock. Ids that
   * name no stored paper are reported, not errors; nothing else is touched.
   */
  async remove(ids: readonly string[], resolve: (id: string) => { rowId: number } | undefined): Promise<RemoveReport> {
    return this.writing(async () => {
      const rowIds: number[] = [];
      const notFound: string[] = [];
      for (const id of ids) {
        const paper = resolve(id);
        if (paper) rowIds.push(paper.rowId);
        else if (!notFound.includes(id)) notFound.push(id);
      }
      const removed = this.store.remove(rowIds);
      this.keywords.catchUp();
      await this.vectors?.catchUp();
      this.parts.logger?.info({ removed: removed.map((paper) => paper.id), notFound }, 'removed papers');
      return { removed: removed.map((paper) => ({ id: paper.id, title: paper.title })), notFound, papers: this.store.count() };
    });
  }

  /**
   * Ingests records a live source fetched (Hugging Face, arXiv) through the same upsert and
   * indexing path as files, so they are askable as soon as this resolves.
   */
  async ingestRecords(records: readonly PaperRecord[], origin: IngestOrigin): Promise<IngestFileReport> {
    // The same record checks as a file's (empty title or abstract, the size limits): a source's
    // response is as untrusted as a file. A rejected record's `line` is its 1-based position.
    const limits = { ...DEFAULT_CORPUS_LIMITS, ...this.parts.corpusLimits };
    const report: IngestFileReport = { file: origin.name, format: 'fetched', added: 0, updated: 0, unchanged: 0, rejected: [] };
    const accepted: PaperRecord[] = [];
    records.forEach((record, index) => {
      const checked = checkRecord({ kind: 'paper', line: index + 1, record }, limits);
      if (checked.kind === 'paper') accepted.push(checked.record);
      else report.rejected.push({ line: checked.line, reason: checked.reason });
    });
    return this.writing(async () => {
      const batch = this.arrivalBatch(origin);
      try {
        for (let start = 0; start < accepted.length; start += BATCH_SIZE) this.writeBatch(accepted.slice(start, start + BATCH_SIZE), origin.name, batch, report);
      } finally {
        await this.vectors?.catchUp();
      }
      this.parts.logger?.info(
        { origin: origin.name, added: report.added, updated: report.updated, unchanged: report.unchanged, rejected: report.rejected },
        'ingested fetched papers',
      );
      return report;
    });
  }

  /**
   * Rebuilds the keyword index and, with `vectors`, the vector index from every stored paper,
   * under the write lock, and saves them.
   */
  async rebuildIndexes(vectors?: (manager: VectorIndexManager) => Promise<void>): Promise<void> {
    await this.writing(async () => {
      this.keywords.rebuild();
      if (this.vectors && vectors) await vectors(this.vectors);
    });
  }

  close(): void {
    this.stopWatching();
    this.store.close();
  }

  private arrivalBatch(origin: IngestOrigin): ArrivalBatch {
    return new ArrivalBatch(this.store, origin, this.parts.bulkImportPapers ?? DEFAULT_BULK_IMPORT_PAPERS);
  }

  /**
   * Writes one batch of records in one transaction, then indexes it. The keyword index reads the
   * changes back from the store (its catch-up), so it covers exactly the generations it claims.
   */
  private writeBatch(records: readonly PaperRecord[], source: string, arrival: ArrivalBatch, report: IngestFileReport): void {
    const outcomes = this.store.transaction(() => {
      const written = records.map((record) => this.store.upsert(record, source, arrival.id));
      for (const { paper } of written) this.store.noteOrigin(paper.rowId, arrival.origin.name);
      arrival.record(written.filter((outcome) => outcome.status === 'added').length);
      return written;
    });
    for (const { status } of outcomes) count(report, status);
    this.keywords.catchUp();
  }

  /** Reads a corpus file and hands its records to `sink` in batches; rejected lines go into the report. */
  private async readFile(
    file: string,
    format: CorpusFormat | undefined,
    sink: (records: readonly PaperRecord[], report: IngestFileReport) => void,
    progress: ProgressReporter = this.parts.progress ?? silentProgress,
  ): Promise<IngestFileReport> {
    const size = statSync(file).size;
    const report: IngestFileReport = { file, format: format ?? 'unknown', added: 0, updated: 0, unchanged: 0, rejected: [] };
    const source = path.basename(file);
    let batch: PaperRecord[] = [];
    const flush = () => {
      if (!batch.length) return;
      const records = batch;
      batch = [];
      sink(records, report);
    };

    progress.start(`ingest ${source}`, size);
    try {
      const lines = readCorpusFile(file, {
        ...(format ? { format } : {}),
        ...(this.parts.corpusLimits ? { limits: this.parts.corpusLimits } : {}),
        onFormat: (detected) => (report.format = detected),
        onBytes: (bytes) => progress.update(bytes),
      });
      for await (const parsed of lines) {
        if (parsed.kind === 'rejected') {
          report.rejected.push({ line: parsed.line, reason: parsed.reason });
          continue;
        }
        batch.push(parsed.record);
        if (batch.length >= BATCH_SIZE) flush();
      }
      flush();
    } catch (error) {
      // Keep every record parsed before the failure, as the message promises.
      flush();
      if (error instanceof PaperbotError) throw error;
      throw new PaperbotError('io', `Could not ingest ${file}: ${(error as Error).message}. Papers read before this point were kept.`, { cause: error });
    } finally {
      progress.stop();
    }
    this.parts.logger?.info({ file, format: report.format, added: report.added, updated: report.updated, unchanged: report.unchanged, rejected: report.rejected.length }, 'ingested file');
    return report;
  }
}

function count(report: IngestFileReport, status: UpsertStatus): void {
  report[status] += 1;
}

function summarise(files: IngestFileReport[], papers: number, dryRun: boolean): IngestReport {
  const totals = { added: 0, updated: 0, unchanged: 0, rejected: 0 };
  for (const report of files) {
    totals.added += report.added;
    totals.updated += report.updated;
    totals.unchanged += report.unchanged;
    totals.rejected += report.rejected.length;
  }
  return { dryRun, files, totals, papers };
}

/** Files to ingest under a path: the file itself, or every non-hidden file below a directory, sorted. */
export function listCorpusFiles(target: string): string[] {
  let stats;
  try {
    stats = statSync(target);
  } catch (error) {
    throw new PaperbotError('not_found', `Cannot read ${target}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (error as Error).message}.`, { cause: error });
  }
  if (stats.isFile()) return [target];
  if (!stats.isDirectory()) throw new PaperbotError('io', `${target} is neither a file nor a directory.`);
  return readdirSync(target, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith('.'))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => (entry.isDirectory() ? listCorpusFiles(path.join(target, entry.name)) : entry.isFile() ? [path.join(target, entry.name)] : []));
}
