/**
 * The paper library: the store plus the indexes derived from it, kept in step. Opening it
 * creates the data directory, ingests the shipped corpus into an empty store, and loads the
 * keyword index (rebuilding it from the store when it is missing, corrupt or stale).
 * Ingest goes through here, so a paper is searchable as soon as its batch commits.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import type { Logger } from 'pino';
import { PaperbotError } from '../errors.ts';
import { readCorpusFile } from './corpus/read-corpus-file.ts';
import type { CorpusFormat } from './corpus/formats.ts';
import { Bm25KeywordIndex, type Bm25Params } from './keyword/bm25-index.ts';
import type { PaperRecord } from './paper.ts';
import type { PaperStore, UpsertStatus } from './ports.ts';
import { SqliteFeedbackStore } from './store/sqlite-feedback-store.ts';
import { SqlitePaperStore } from './store/sqlite-paper-store.ts';
import { silentProgress, type ProgressReporter } from './progress.ts';
import { VectorIndexManager, type EmbedderFactory, type VectorIndexOptions } from './vector/vector-index-manager.ts';

export { silentProgress, type ProgressReporter } from './progress.ts';

export interface RejectedRecord {
  line: number;
  reason: string;
}

export interface IngestFileReport {
  file: string;
  /** The detected (or forced) format; `unknown` when the file held nothing to detect it from. */
  format: CorpusFormat | 'unknown';
  added: number;
  updated: number;
  unchanged: number;
  rejected: RejectedRecord[];
}

export interface IngestReport {
  files: IngestFileReport[];
  totals: { added: number; updated: number; unchanged: number; rejected: number };
  /** Papers in the library after the ingest. */
  papers: number;
}

export interface LibraryOptions {
  dataDir: string;
  bm25: Bm25Params;
  /** Ingested into an empty store on first open; null for none (evaluation stores). */
  shippedCorpusDir: string | null;
  progress?: ProgressReporter;
  /** One-line notices for the user (stderr in the CLI). */
  notify?: (message: string) => void;
  logger?: Logger;
  /**
   * A file ingest that adds more papers than this is a bulk import (a benchmark, a whole
   * archive): its papers are askable but never posted by a digest unless backfilled on purpose.
   */
  bulkImportPapers?: number;
  /** The vector index and the embedders that build it; null for keyword-only libraries. */
  vectors?: { factory: (library: () => PaperLibrary) => EmbedderFactory; options: Omit<VectorIndexOptions, 'dataDir' | 'progress' | 'notify' | 'logger'> } | null;
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
  readonly keywordIndexFile: string;
  vectors: VectorIndexManager | null = null;
  /** Answers posted in chat and their 👍 / 👎, in the same database. */
  feedback!: SqliteFeedbackStore;
  /** The open paper database, for stores that keep their own tables beside the papers (digests). */
  database!: SqliteDatabase;
  private constructor(
    readonly dataDir: string,
    readonly store: PaperStore,
    public keywordIndex: Bm25KeywordIndex,
    /** The store generation the keyword index file on disk matches (−1: none on disk). */
    private savedGeneration: number,
    private readonly options: LibraryOptions,
  ) {
    this.keywordIndexFile = keywordIndexPath(dataDir);
  }

  static async open(options: LibraryOptions): Promise<PaperLibrary> {
    const dataDir = path.resolve(options.dataDir);
    ensureDataDir(dataDir);
    const store = new SqlitePaperStore(path.join(dataDir, 'papers.sqlite'));
    try {
      // The vector index is the largest file: hnswlib reads it on the thread pool while the
      // keyword index loads here. Its embedder reads idf from `library`, set just below.
      const built: { library?: PaperLibrary } = {};
      const vectors = options.vectors ? new VectorIndexManager(store, options.vectors.factory(() => built.library!), vectorOptions(options, dataDir)) : null;
      vectors?.preload();
      const { index, savedGeneration } = loadOrRebuildKeywordIndex(store, dataDir, options);
      // `vectors` is attached after seeding, so the seed ingest does not embed twice.
      const library = new PaperLibrary(dataDir, store, index, savedGeneration, options);
      library.feedback = new SqliteFeedbackStore(store.connection);
      library.database = store.connection;
      built.library = library;
      if (options.shippedCorpusDir && store.count() === 0 && store.getMeta('seeded_at') === undefined) {
        options.notify?.(`First run: ingesting the shipped corpus from ${path.relative(process.cwd(), options.shippedCorpusDir) || options.shippedCorpusDir}.`);
        await library.ingest([options.shippedCorpusDir], { origin: { name: 'seed', bulk: 'always' } });
        store.setMeta('seeded_at', new Date().toISOString());
      }
      if (vectors) {
        library.vectors = vectors;
        await vectors.open();
      }
      return library;
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /**
   * Ingests files and directories (recursively). Every path is checked before anything is
   * written; a missing path is a `not_found` error. Bad records are reported, never fatal.
   */
  async ingest(paths: readonly string[], options: { format?: CorpusFormat; origin?: IngestOrigin } = {}): Promise<IngestReport> {
    const files = paths.flatMap((p) => listCorpusFiles(p));
    const reports: IngestFileReport[] = [];
    const batch = this.arrivalBatch(options.origin ?? { name: 'cli', bulk: 'auto' });
    try {
      for (const file of files) reports.push(await this.ingestFile(file, options.format, batch));
    } finally {
      // Whatever was committed stays searchable, even when a later file failed.
      this.saveKeywordIndex();
      await this.vectors?.catchUp();
    }
    const totals = { added: 0, updated: 0, unchanged: 0, rejected: 0 };
    for (const report of reports) {
      totals.added += report.added;
      totals.updated += report.updated;
      totals.unchanged += report.unchanged;
      totals.rejected += report.rejected.length;
    }
    return { files: reports, totals, papers: this.store.count() };
  }

  /**
   * Ingests records a live source fetched (Hugging Face, arXiv) through the same upsert and
   * indexing path as files, so they are askable as soon as this resolves.
   */
  async ingestRecords(records: readonly PaperRecord[], origin: IngestOrigin): Promise<IngestFileReport> {
    const batch = this.arrivalBatch(origin);
    const report: IngestFileReport = { file: origin.name, format: 'jsonl', added: 0, updated: 0, unchanged: 0, rejected: [] };
    try {
      for (let start = 0; start < records.length; start += BATCH_SIZE) this.writeBatch(records.slice(start, start + BATCH_SIZE), origin.name, batch, report);
    } finally {
      this.saveKeywordIndex();
      await this.vectors?.catchUp();
    }
    this.options.logger?.info({ origin: origin.name, added: report.added, updated: report.updated, unchanged: report.unchanged }, 'ingested fetched papers');
    return report;
  }

  /** Rebuilds the keyword index from the store and saves it. */
  rebuildKeywordIndex(): void {
    this.keywordIndex = rebuildKeywordIndex(this.store, this.options);
    this.savedGeneration = -1;
    this.saveKeywordIndex();
  }

  close(): void {
    this.store.close();
  }

  private saveKeywordIndex(): void {
    const generation = this.store.generation();
    if (!this.keywordIndex.dirty && this.savedGeneration === generation) return;
    this.keywordIndex.save(this.keywordIndexFile, generation);
    this.savedGeneration = generation;
  }

  private arrivalBatch(origin: IngestOrigin): ArrivalBatch {
    return new ArrivalBatch(this.store, origin, this.options.bulkImportPapers ?? DEFAULT_BULK_IMPORT_PAPERS);
  }

  /** Writes one batch of records in one transaction and indexes what changed. */
  private writeBatch(records: readonly PaperRecord[], source: string, arrival: ArrivalBatch, report: IngestFileReport): void {
    const outcomes = this.store.transaction(() => {
      const written = records.map((record) => this.store.upsert(record, source, arrival.id));
      for (const { paper } of written) this.store.noteOrigin(paper.rowId, arrival.origin.name);
      arrival.record(written.filter((outcome) => outcome.status === 'added').length);
      return written;
    });
    for (const { status, paper } of outcomes) {
      count(report, status);
      if (status !== 'unchanged') this.keywordIndex.add(paper.rowId, paper.title, paper.abstract);
    }
  }

  private async ingestFile(file: string, format: CorpusFormat | undefined, arrival: ArrivalBatch): Promise<IngestFileReport> {
    const progress = this.options.progress ?? silentProgress;
    const size = statSync(file).size;
    const report: IngestFileReport = { file, format: format ?? 'unknown', added: 0, updated: 0, unchanged: 0, rejected: [] };
    const source = path.basename(file);
    let batch: PaperRecord[] = [];
    const flush = () => {
      if (!batch.length) return;
      const records = batch;
      batch = [];
      this.writeBatch(records, source, arrival, report);
    };

    progress.start(`ingest ${source}`, size);
    try {
      const lines = readCorpusFile(file, {
        ...(format ? { format } : {}),
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
    this.options.logger?.info({ file, format: report.format, added: report.added, updated: report.updated, unchanged: report.unchanged, rejected: report.rejected.length }, 'ingested file');
    return report;
  }
}

function count(report: IngestFileReport, status: UpsertStatus): void {
  report[status] += 1;
}

function vectorOptions(options: LibraryOptions, dataDir: string): VectorIndexOptions {
  const result: VectorIndexOptions = { ...options.vectors!.options, dataDir };
  if (options.progress) result.progress = options.progress;
  if (options.notify) result.notify = options.notify;
  if (options.logger) result.logger = options.logger;
  return result;
}

export function keywordIndexPath(dataDir: string): string {
  return path.join(dataDir, 'keyword-index.bin');
}

function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    if (!statSync(dataDir).isDirectory()) throw new Error('it is not a directory');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOTDIR' || (error as NodeJS.ErrnoException).code === 'EEXIST'
      ? 'a file is in the way (a directory is needed there)'
      : (error as Error).message;
    throw new PaperbotError('data_dir', `Cannot create the data directory ${dataDir}: ${reason}. Set PAPERBOT_DATA_DIR to a directory paperbot can write to.`, { cause: error });
  }
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

function loadOrRebuildKeywordIndex(store: PaperStore, dataDir: string, options: LibraryOptions): { index: Bm25KeywordIndex; savedGeneration: number } {
  const file = keywordIndexPath(dataDir);
  let reason: string;
  try {
    const { index, generation } = Bm25KeywordIndex.load(file, options.bm25);
    if (generation === store.generation()) return { index, savedGeneration: generation };
    reason = 'it is out of step with the paper store';
  } catch (error) {
    reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist yet' : (error as Error).message;
  }
  const papers = store.count();
  if (papers > 0) options.notify?.(`Rebuilding the keyword index from ${papers} papers (${reason}).`);
  options.logger?.info({ file, reason }, 'rebuilding keyword index');
  const index = rebuildKeywordIndex(store, options);
  if (papers === 0) return { index, savedGeneration: -1 };
  index.save(file, store.generation());
  return { index, savedGeneration: store.generation() };
}

function rebuildKeywordIndex(store: PaperStore, options: LibraryOptions): Bm25KeywordIndex {
  const progress = options.progress ?? silentProgress;
  const index = new Bm25KeywordIndex(options.bm25);
  const total = store.count();
  progress.start('keyword index', total);
  let done = 0;
  for (const paper of store.iterate()) {
    index.add(paper.rowId, paper.title, paper.abstract);
    if (++done % 1000 === 0) progress.update(done);
  }
  progress.update(done);
  progress.stop();
  index.commit();
  return index;
}
