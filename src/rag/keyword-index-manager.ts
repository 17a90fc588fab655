/**
 * Keeps the keyword index in step with the paper store. The index covers a store generation:
 * every change (addition, update, removal) up to it is in the index. Opening loads the saved
 * index and catches it up with the store's changes since the generation it was saved at; a
 * missing or damaged file (or one ahead of the store: another database) is rebuilt from the
 * store. Changes reach the index only through `catchUp`, which reads them back from the store,
 * so the generation an index is saved with is always one it fully covers, whoever else wrote
 * the store meanwhile. Saving is the caller's decision (the library saves while it holds the
 * write lock). The index object may be replaced (a rebuild): read `index` at call time.
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

/** Papers read from the store per page while catching up. */
const PAGE = 2000;

export class KeywordIndexManager {
  /** The current index; empty until `open`. */
  index: KeywordIndex;
  /** Every store change up to this generation is in `index` (−1: nothing yet). */
  private covered = -1;
  /** The generation the saved file covers (−1: nothing saved, or not by this process). */
  private savedGeneration = -1;

  constructor(
    private readonly store: PaperStore,
    readonly indexes: KeywordIndexProvider,
    private readonly options: KeywordIndexManagerOptions = {},
  ) {
    this.index = indexes.create();
  }

  /** The store generation the in-memory index covers. */
  get coveredGeneration(): number {
    return this.covered;
  }

  /** True when the in-memory index holds changes its file does not. */
  get unsaved(): boolean {
    return this.index.dirty || this.covered !== this.savedGeneration;
  }

  /** Inverse document frequency of an analysed term in the current index (embedders and answers weigh terms by it). */
  idf(term: string): number {
    return this.index.idf(term);
  }

  /** Loads the saved index and catches it up, or rebuilds it (in memory) when it is missing, damaged or ahead of the store. */
  open(): void {
    let reason: string;
    try {
      const { index, generation } = this.indexes.load();
      if (generation <= this.store.generation()) {
        this.index = index;
        this.covered = generation;
        this.savedGeneration = generation;
        this.catchUp();
        return;
      }
      reason = `it is ahead of the paper store (generation ${generation} > ${this.store.generation()}), so it belongs to another database`;
    } catch (error) {
      reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist yet' : (error as Error).message;
    }
    const papers = this.store.count();
    if (papers > 0) this.options.notify?.(`Rebuilding the keyword index from ${papers} papers (${reason}).`);
    this.options.logger?.info({ reason }, 'rebuilding keyword index');
    this.buildFromStore();
    this.savedGeneration = -1;
  }

  /**
   * Applies the store's changes since the covered generation (added and updated papers, removed
   * ones) to the in-memory index; returns how many. Cheap when nothing changed (one read).
   */
  catchUp(): number {
    const target = this.store.generation();
    if (target === this.covered) return 0;
    if (target < this.covered) {
      // The store went back (a restored backup): nothing incremental can be trusted.
      this.options.logger?.warn({ covered: this.covered, store: target }, 'paper store is behind the keyword index; rebuilding it');
      this.buildFromStore();
      return this.index.size;
    }
    // Rows changed after `target` may come along too: harmless, the index then covers more than it claims.
    let applied = 0;
    for (const rowId of this.store.removedSince(this.covered)) {
      this.index.remove(rowId);
      applied += 1;
    }
    let after = 0;
    for (;;) {
      const page = this.store.changedSince(this.covered, after, PAGE);
      if (!page.length) break;
      for (const paper of page) this.index.add(paper.rowId, paper.title, paper.abstract);
      applied += page.length;
      after = page[page.length - 1]!.rowId;
    }
    if (applied) this.options.logger?.debug({ from: this.covered, to: target, applied }, 'keyword index caught up');
    this.covered = target;
    return applied;
  }

  /** Rebuilds the in-memory index from every stored paper (the caller saves it). */
  rebuild(): void {
    this.buildFromStore();
    this.savedGeneration = -1;
  }

  /** Saves the index, stamped with the generation it covers, when the file lacks something. Call it holding the write lock. */
  save(): void {
    if (!this.unsaved) return;
    this.index.commit();
    this.indexes.save(this.index, this.covered);
    this.savedGeneration = this.covered;
  }

  private buildFromStore(): void {
    const progress = this.options.progress ?? silentProgress;
    // Read before iterating: rows committed meanwhile come along, and are covered by the next catch-up anyway.
    const target = this.store.generation();
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
    this.index = index;
    this.covered = target;
  }
}
