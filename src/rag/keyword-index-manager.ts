/**
 * Keeps the keyword index in step with the paper store: loads the saved index at open, and
 * rebuilds it from the store when it is missing, damaged or behind the store's generation; saves
 * it after each ingest. The index object may be replaced (a rebuild): read `index` at call time.
 */
import type { Logger } from 'pino';
import type { KeywordIndex, KeywordIndexProvider, PaperStore } from './ports.ts';
import { silentProgress } from './progress.ts';
import type { ProgressReporter } from './types.ts';

export interface KeywordIndexManagerOptions {
  progress?: ProgressReporter;
  /** One-line notices for the user (stderr in the CLI). */
  notify?: (message: string) => void;
  logger?: Logger;
}

export class KeywordIndexManager {
  /** The current index; empty until `open`. */
  index: KeywordIndex;
  /** The store generation the saved index matches (−1: nothing saved). */
  private savedGeneration = -1;

  constructor(
    private readonly store: PaperStore,
    readonly indexes: KeywordIndexProvider,
    private readonly options: KeywordIndexManagerOptions = {},
  ) {
    this.index = indexes.create();
  }

  /** Inverse document frequency of an analysed term in the current index (embedders and answers weigh terms by it). */
  idf(term: string): number {
    return this.index.idf(term);
  }

  /** Loads the saved index, or rebuilds it from the store when it is missing, damaged or stale. */
  open(): void {
    let reason: string;
    try {
      const { index, generation } = this.indexes.load();
      if (generation === this.store.generation()) {
        this.index = index;
        this.savedGeneration = generation;
        return;
      }
      reason = 'it is out of step with the paper store';
    } catch (error) {
      reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist yet' : (error as Error).message;
    }
    const papers = this.store.count();
    if (papers > 0) this.options.notify?.(`Rebuilding the keyword index from ${papers} papers (${reason}).`);
    this.options.logger?.info({ reason }, 'rebuilding keyword index');
    this.index = this.buildFromStore();
    this.savedGeneration = -1;
    if (papers > 0) this.save();
  }

  /** Rebuilds the index from every stored paper and saves it. */
  rebuild(): void {
    this.index = this.buildFromStore();
    this.savedGeneration = -1;
    this.save();
  }

  /** Saves the index when it changed or the store moved on since the last save. */
  save(): void {
    const generation = this.store.generation();
    if (!this.index.dirty && this.savedGeneration === generation) return;
    this.index.commit();
    this.indexes.save(this.index, generation);
    this.savedGeneration = generation;
  }

  private buildFromStore(): KeywordIndex {
    const progress = this.options.progress ?? silentProgress;
    const index = this.indexes.create();
    progress.start('keyword index', this.store.count());
    let done = 0;
    for (const paper of this.store.iterate()) {
      index.add(paper.rowId, paper.title, paper.abstract);
      if (++done % 1000 === 0) progress.update(done);
    }
    progress.update(done);
    progress.stop();
    index.commit();
    return index;
  }
}
