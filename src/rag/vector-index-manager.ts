/**
 * Keeps the vector index in step with the paper store and decides, once, which embedder builds
 * it. The decision is recorded in the index; afterwards a different explicit choice is an error
 * naming `paperbot index --rebuild`, and `auto` keeps the recorded embedder (falling back to
 * keyword-only retrieval, with a warning, when that embedder is unavailable). A rebuild never
 * happens behind the user's back except to repair a missing or damaged index file.
 *
 * The index covers a store generation: every paper changed up to it has its vector, every paper
 * removed up to it is gone. `catchUp` embeds what changed since and drops what was removed, in
 * memory; the library saves (stamped with the covered generation) while it holds the write lock.
 */
import type { Logger } from 'pino';
import { PaperbotError, describeError } from '../errors.ts';
import type { Embedder, PaperStore, VectorIndex, VectorIndexHeader, VectorIndexProvider } from './ports.ts';
import { silentProgress } from './progress.ts';
import type { VectorSearch } from './retrieval.ts';

import type { EmbedderChoice, Paper, ProgressReporter, ScoredRowId } from './types.ts';

/** Builds embedders; implemented by the composition root, which knows Ollama's settings. */
export interface EmbedderFactory {
  /** The embedder id and dimension an explicit choice would build with (dimension 0: learnt on connect). */
  wanted(choice: 'ollama' | 'local'): { id: string; dimension: number };
  /** Picks and connects an embedder for a new index; for `auto`, Ollama if it has the model, else local. */
  choose(choice: EmbedderChoice): Promise<{ embedder: Embedder; reason: string }>;
  /** Reconnects the embedder an index was built with; throws a `PaperbotError` when it is unavailable. */
  recreate(embedderId: string, dimension: number): Promise<Embedder>;
}

export interface VectorIndexOptions {
  choice: EmbedderChoice;
  /** Papers embedded per call (at most the embedder's own `maxBatch`). */
  batchSize: number;
  /** Skip the embedder-mismatch check (for `index --rebuild`, which replaces the index anyway). */
  allowEmbedderChange?: boolean;
  progress?: ProgressReporter;
  notify?: (message: string) => void;
  logger?: Logger;
}

export type VectorState =
  | { kind: 'ready'; index: VectorIndex; embedder: Embedder }
  | { kind: 'unavailable'; reason: string; header?: VectorIndexHeader }
  | { kind: 'empty' };

const kindOf = (embedderId: string): 'ollama' | 'local' => (embedderId.startsWith('ollama:') ? 'ollama' : 'local');

export class VectorIndexManager implements VectorSearch {
  state: VectorState = { kind: 'empty' };
  /** Every paper changed at or before this store generation has its vector in the index (−1: none yet, as the keyword index's). */
  private coveredGeneration = -1;
  /** The generation the saved file covers (−1: not saved by this process). */
  private savedGeneration = -1;
  /** The index changed since it was last loaded or saved. */
  private changed = false;
  /** Catch-ups run one at a time (a poll and an ingest in one process). */
  private catchingUp: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: PaperStore,
    readonly indexes: VectorIndexProvider,
    private readonly factory: EmbedderFactory,
    private readonly options: VectorIndexOptions,
  ) {}

  /**
   * Starts reading the saved index in the background, so the caller can load everything else
   * meanwhile; `open` then uses it. Failures surface in `open`.
   */
  preload(): void {
    if (!this.options.allowEmbedderChange) this.indexes.prefetch();
  }

  /** Loads the index (or builds it the first time), then embeds papers it is missing. */
  async open(): Promise<void> {
    // `index --rebuild` replaces the index: neither check nor build what it is about to discard.
    if (this.options.allowEmbedderChange) return;
    const meta = this.indexes.header();
    if (!meta) {
      if (this.store.count() > 0) await this.build(this.options.choice, 'no vector index yet');
      return;
    }
    this.checkChoice(meta);
    let embedder: Embedder;
    try {
      embedder = await this.factory.recreate(meta.embedderId, meta.dimension);
    } catch (error) {
      const reason = `the vector index was built with ${meta.embedderId}, which is unavailable: ${describeError(error)} (once it is back, paperbot uses it again; \`paperbot index --rebuild\` switches embedders)`;
      this.state = { kind: 'unavailable', reason, header: meta };
      this.options.notify?.(`Using keyword search only: ${reason}`);
      return;
    }
    if (meta.storeGeneration > this.store.generation()) {
      // Saved for a later store than this one (another database): nothing in it can be trusted,
      // so it is not even read (nor checksummed).
      await this.build(kindOf(meta.embedderId), `The vector index is ahead of the paper store (generation ${meta.storeGeneration} > ${this.store.generation()}). Rebuilding it`, embedder);
      return;
    }
    try {
      const index = await this.indexes.open();
      this.state = { kind: 'ready', index, embedder };
      this.coveredGeneration = meta.storeGeneration;
      this.savedGeneration = meta.storeGeneration;
      this.changed = false;
    } catch (error) {
      if (!(error instanceof PaperbotError) || error.code !== 'index') throw error;
      await this.build(kindOf(meta.embedderId), `${error.message} Rebuilding it`, embedder);
      return;
    }
    await this.catchUp();
  }

  /** Replaces the index with one built from every paper, by the chosen embedder. */
  async rebuild(choice: EmbedderChoice): Promise<void> {
    await this.build(choice, 'rebuild requested');
  }

  /** True when the in-memory index holds changes its file does not. */
  get unsaved(): boolean {
    return this.state.kind === 'ready' && (this.changed || this.coveredGeneration !== this.savedGeneration);
  }

  /** The store generation the in-memory index covers. */
  get covered(): number {
    return this.coveredGeneration;
  }

  /** Saves the index, stamped with the generation it covers, when the file lacks something. Call it holding the write lock. */
  save(): void {
    if (this.state.kind !== 'ready' || !this.unsaved) return;
    this.indexes.save(this.state.index, this.coveredGeneration);
    this.savedGeneration = this.coveredGeneration;
    this.changed = false;
  }

  /**
   * Drops papers removed and embeds every paper changed since the covered generation, in
   * batches, in memory. If the embedder fails, what was embedded stays, the rest waits for the
   * next catch-up, and the error is returned (not thrown): the papers are safely stored already.
   * `quiet` (a background poll) logs the failure instead of telling the user.
   */
  catchUp(options: { quiet?: boolean } = {}): Promise<{ embedded: number; error?: PaperbotError }> {
    const run = this.catchingUp.catch(() => undefined).then(() => this.catchUpNow(options));
    this.catchingUp = run;
    return run;
  }

  private async catchUpNow(options: { quiet?: boolean }): Promise<{ embedded: number; error?: PaperbotError }> {
    // The first papers of an empty library: the index is built now, its embedder decided now.
    if (this.state.kind === 'empty' && this.store.count() > 0 && !this.options.allowEmbedderChange) {
      await this.build(this.options.choice, 'first papers');
      const built = this.state as VectorState;
      return { embedded: built.kind === 'ready' ? built.index.size : 0 };
    }
    if (this.state.kind !== 'ready') return { embedded: 0 };
    const { index, embedder } = this.state;
    // Read first: whatever commits meanwhile is at a later generation, so covering `target` stays true.
    const target = this.store.generation();
    if (target === this.coveredGeneration) return { embedded: 0 };
    for (const rowId of this.store.removedSince(this.coveredGeneration)) {
      const before = index.size;
      index.remove(rowId);
      if (index.size !== before) this.changed = true;
    }
    const total = this.store.countChangedSince(this.coveredGeneration);
    if (total === 0) {
      this.coveredGeneration = target;
      return { embedded: 0 };
    }
    const progress = this.options.progress ?? silentProgress;
    progress.start(`embed (${embedder.id})`, total);
    let done = 0;
    let after = 0;
    // Batching happens here, once: never more than the embedder takes in one call.
    const batch = Math.max(1, Math.min(this.options.batchSize, embedder.maxBatch));
    try {
      for (;;) {
        const page: Paper[] = this.store.changedSince(this.coveredGeneration, after, batch);
        if (!page.length) break;
        const vectors = await embedder.embedDocuments(page.map((paper) => `${paper.title}. ${paper.abstract}`));
        if (vectors.length !== page.length) throw new PaperbotError('internal', `${embedder.id} returned ${vectors.length} vectors for ${page.length} papers.`);
        page.forEach((paper, i) => index.upsert(paper.rowId, vectors[i]!));
        this.changed = true;
        after = page[page.length - 1]!.rowId;
        done += page.length;
        progress.update(done);
      }
    } catch (error) {
      const failure = error instanceof PaperbotError ? error : new PaperbotError('internal', describeError(error), { cause: error });
      this.options.logger?.warn({ err: failure, embedded: done, total, notified: !options.quiet }, 'embedding stopped');
      if (!options.quiet) this.options.notify?.(`${total - done} papers are stored but not yet in the vector index (${failure.message}); they are embedded on the next run.`);
      // The covered generation stays: the next catch-up embeds the rest (and these again).
      return { embedded: done, error: failure };
    } finally {
      progress.stop();
    }
    this.coveredGeneration = target;
    return { embedded: done };
  }

  /**
   * Nearest papers to a query, best first; throws when the index is not usable (callers fall
   * back to keywords). `alsoScore` papers (the keyword candidates) are scored exactly and merged
   * in, so fusion compares the two rankings over the same candidates even where HNSW's
   * approximate search missed one.
   */
  async search(query: string, k: number, alsoScore: readonly number[] = []): Promise<ScoredRowId[]> {
    if (this.state.kind !== 'ready') throw new PaperbotError('index', this.state.kind === 'unavailable' ? this.state.reason : 'there is no vector index yet');
    const vector = await this.state.embedder.embedQuery(query);
    const hits = this.state.index.search(vector, k);
    if (!alsoScore.length) return hits;
    const found = new Set(hits.map((hit) => hit.rowId));
    const extra = this.state.index.similarity(vector, alsoScore.filter((rowId) => !found.has(rowId)));
    return [...hits, ...extra].sort((a, b) => b.score - a.score);
  }

  private checkChoice(meta: VectorIndexHeader): void {
    const choice = this.options.choice;
    if (choice === 'auto' || this.options.allowEmbedderChange) return;
    const wanted = this.factory.wanted(choice);
    const same = kindOf(meta.embedderId) === choice && meta.embedderId === wanted.id && (wanted.dimension === 0 || wanted.dimension === meta.dimension);
    if (!same) {
      throw new PaperbotError(
        'embedder_mismatch',
        `The vector index was built with ${meta.embedderId} (${meta.dimension} dimensions), but EMBEDDER=${choice} asks for ${wanted.id}${wanted.dimension ? ` (${wanted.dimension} dimensions)` : ''}. ` +
          `Run \`paperbot index --rebuild\` to rebuild it with ${wanted.id}, or set EMBEDDER=auto to keep using ${meta.embedderId}.`,
      );
    }
  }

  private async build(choice: EmbedderChoice, why: string, knownEmbedder?: Embedder): Promise<void> {
    let embedder = knownEmbedder;
    if (!embedder) {
      const chosen = await this.factory.choose(choice);
      embedder = chosen.embedder;
      this.options.notify?.(`Building the vector index for ${this.store.count()} papers with ${embedder.id} (${embedder.dimension} dimensions) because ${chosen.reason}.`);
      this.options.logger?.info({ why, embedder: embedder.id }, 'building vector index');
    } else {
      this.options.notify?.(`${why} with ${embedder.id}.`);
    }
    const index = this.indexes.create(embedder.id, embedder.dimension, this.store.count());
    this.state = { kind: 'ready', index, embedder };
    // Below every generation: rows from before generations were recorded (0) are embedded too.
    this.coveredGeneration = -1;
    this.savedGeneration = -2;
    this.changed = true;
    const { error } = await this.catchUpNow({});
    if (error && index.size === 0) {
      this.state = { kind: 'unavailable', reason: error.message };
    }
  }
}
