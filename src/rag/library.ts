/**
 * The paper library: the store plus the indexes derived from it, kept in step. Opening it
 * loads the keyword index (rebuilding it from the store when it is missing, corrupt or stale),
 * ingests the shipped corpus into an empty store, and opens the vector index.
 * Ingest goes through here, so a paper is searchable as soon as its batch commits.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { PaperbotError } from '../errors.ts';
import { readCorpusFile } from './corpus/read-corpus-file.ts';
import type { CorpusFormat } from './corpus/formats.ts';
import type { KeywordIndexManager } from './keyword-index-manager.ts';
import type { KeywordIndex, PaperStore } from './ports.ts';
import { silentProgress } from './progress.ts';
import type { Clock, PaperRecord, ProgressReporter, UpsertStatus } from './types.ts';
import type { VectorIndexManager } from './vector-index-manager.ts';

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
    this.keywords.open();
    const { shippedCorpusDir, notify } = this.parts;
    if (shippedCorpusDir && this.store.count() === 0 && this.store.getMeta('seeded_at') === undefined) {
      notify?.(`First run: ingesting the shipped corpus from ${path.relative(process.cwd(), shippedCorpusDir) || shippedCorpusDir}.`);
      // The vector index is built once, after seeding, so the seed is not embedded twice.
      await this.ingest([shippedCorpusDir], { origin: { name: 'seed', bulk: 'always' } }, { embed: false });
      this.store.setMeta('seeded_at', this.parts.clock().toISOString());
    }
    await this.vectors?.open();
  }

  /**
   * Ingests files and directories (recursively). Every path is checked before anything is
   * written; a missing path is a `not_found` error. Bad records are reported, never fatal.
   */
  async ingest(paths: readonly string[], options: { format?: CorpusFormat; origin?: IngestOrigin } = {}, indexing: { embed: boolean } = { embed: true }): Promise<IngestReport> {
    const files = paths.flatMap((p) => listCorpusFiles(p));
    const reports: IngestFileReport[] = [];
    const batch = this.arrivalBatch(options.origin ?? { name: 'cli', bulk: 'auto' });
    try {
      for (const file of files) reports.push(await this.ingestFile(file, options.format, batch));
    } finally {
      // Whatever was committed stays searchable, even when a later file failed.
      this.keywords.save();
      if (indexing.embed) await this.vectors?.catchUp();
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
      this.keywords.save();
      await this.vectors?.catchUp();
    }
    this.parts.logger?.info({ origin: origin.name, added: report.added, updated: report.updated, unchanged: report.unchanged }, 'ingested fetched papers');
    return report;
  }

  /** Rebuilds the keyword index from the store and saves it. */
  rebuildKeywordIndex(): void {
    this.keywords.rebuild();
  }

  close(): void {
    this.store.close();
  }

  private arrivalBatch(origin: IngestOrigin): ArrivalBatch {
    return new ArrivalBatch(this.store, origin, this.parts.bulkImportPapers ?? DEFAULT_BULK_IMPORT_PAPERS);
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
      if (status !== 'unchanged') this.keywords.index.add(paper.rowId, paper.title, paper.abstract);
    }
  }

  private async ingestFile(file: string, format: CorpusFormat | undefined, arrival: ArrivalBatch): Promise<IngestFileReport> {
    const progress = this.parts.progress ?? silentProgress;
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
    this.parts.logger?.info({ file, format: report.format, added: report.added, updated: report.updated, unchanged: report.unchanged, rejected: report.rejected.length }, 'ingested file');
    return report;
  }
}

function count(report: IngestFileReport, status: UpsertStatus): void {
  report[status] += 1;
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
