/**
 * The ports of the RAG core: what it needs from the outside world, each with its contract.
 * Adapters implement them (`SqlitePaperStore`, `Bm25KeywordIndex`, `ExtractiveAnswerer`, and in
 * later issues the Ollama and HNSW adapters); the composition root wires them together.
 */
import type { Paper, PaperRecord } from './paper.ts';
import type { Answer } from './answer.ts';
import type { Retrieval } from './retrieval.ts';

export type UpsertStatus = 'added' | 'updated' | 'unchanged';

/**
 * Durable storage of papers. Writes are synchronous and only visible to other processes when the
 * surrounding `transaction` commits. `generation` increases with every committed change, so
 * derived indexes can tell whether they are still in step with the store.
 */
export interface PaperStore {
  /**
   * Adds a paper, updates it (newer arXiv version or changed content), or leaves it unchanged.
   * A new paper remembers `batch` (from `startIngestBatch`) as its arrival; updates keep theirs.
   */
  upsert(record: PaperRecord, source: string, batch?: number): { status: UpsertStatus; paper: Paper };
  /** Opens an ingest batch (`origin`: `seed`, `cli`, `inbox`, `huggingface`…) and returns its id. */
  startIngestBatch(origin: string, bulk: boolean): number;
  /** Records how many papers a batch added so far, and marks it bulk once it is (never unmarks). */
  updateIngestBatch(batch: number, added: number, bulk: boolean): void;
  /** Remembers that the paper came (also) through `origin`: `inbox`, `cli`, `huggingface`, `arxiv`, `seed`. */
  noteOrigin(rowId: number, origin: string): void;
  /** Runs `work` in one transaction; everything it wrote is kept or nothing is. */
  transaction<T>(work: () => T): T;
  getById(id: string): Paper | undefined;
  /** Papers by row id, in the order asked; unknown row ids are skipped. */
  getByRowIds(rowIds: readonly number[]): Paper[];
  /** Papers whose title matches case-, space- and punctuation-insensitively. */
  findByTitle(title: string): Paper[];
  count(): number;
  generation(): number;
  /** Every paper in row-id order, streamed (the corpus may not fit comfortably in memory twice). */
  iterate(): IterableIterator<Paper>;
  /**
   * One page of the papers added or updated after store generation `generation`, in row-id
   * order, starting after `afterRowId` (keyset paging: no cursor stays open across awaits).
   */
  changedSince(generation: number, afterRowId: number, limit: number): Paper[];
  countChangedSince(generation: number): number;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  close(): void;
}

/** A ranked hit of a retriever: the paper's row id and a score where higher is better. */
export interface ScoredRowId {
  rowId: number;
  score: number;
}

/** An earlier question and answer of the same conversation (a chat thread), oldest first. */
export interface ConversationTurn {
  question: string;
  answer: string;
}

/** What an answerer streams: checked text as it is written, then exactly one final `Answer`. */
export type AnswerEvent = { type: 'delta'; text: string } | { type: 'answer'; answer: Answer };

/**
 * Turns a question and its retrieved papers into an `Answer`, streamed. Deltas concatenate to the
 * final answer's text and carry only checked citations. Throws a `PaperbotError` (before or
 * during the stream) when it cannot answer; the core then falls back to the extractive answerer.
 */
export interface Answerer {
  readonly mode: Answer['mode'];
  stream(question: string, retrieval: Retrieval, options?: { signal?: AbortSignal; history?: readonly ConversationTurn[] }): AsyncGenerator<AnswerEvent>;
}

/**
 * Turns texts into vectors for the vector index. `id` names the model (and its version) so an
 * index built with one embedder is never queried with another; `dimension` is fixed per id.
 * Documents and queries may be embedded differently (prefixes, weights). Errors: rejects with a
 * `PaperbotError` (`ollama_*` codes for the Ollama embedder) that says what to do.
 */
export interface Embedder {
  readonly id: string;
  readonly dimension: number;
  embedDocuments(texts: readonly string[]): Promise<Float32Array[]>;
  embedQuery(text: string): Promise<Float32Array>;
}
