/**
 * The ports of the RAG core: what it needs from the outside world, each with its contract.
 * Adapters in `src/adapters/<vendor or role>/` implement them (`SqlitePaperStore`,
 * `Bm25KeywordIndex`, `HnswVectorIndexProvider`, `OllamaChatModel`, …); the composition root
 * builds them and hands them to the core's plain constructors. Ports import only the bottom
 * types module, so every layer can depend on them.
 *
 * Errors: every port rejects with a `PaperbotError` whose message tells the user what to do
 * (`ollama pull …`, `paperbot index --rebuild`); expected outcomes are values, not exceptions.
 */
import type {
  AnswerEvent,
  FeedbackEntry,
  LoggedAnswer,
  Paper,
  PaperRecord,
  PastTurn,
  Rating,
  Retrieval,
  ScoredRowId,
  UpsertStatus,
} from './types.ts';

/**
 * Durable storage of papers. Writes are synchronous and only visible to other processes when the
 * surrounding `transaction` commits. `generation` increases with every committed change, so
 * derived indexes can tell whether they are still in step with the store.
 */
export interface PaperStore {
  /**
   * Adds a paper, updates it (newer arXiv version or changed content), or leaves it unchanged.
   * Idempotent: the same record twice is `unchanged` the second time. A new paper remembers
   * `batch` (from `startIngestBatch`) as its arrival; updates keep theirs.
   */
  upsert(record: PaperRecord, source: string, batch?: number): { status: UpsertStatus; paper: Paper };
  /** Opens an ingest batch (`origin`: `seed`, `cli`, `inbox`, `huggingface`…) and returns its id. */
  startIngestBatch(origin: string, bulk: boolean): number;
  /** Records how many papers a batch added so far, and marks it bulk once it is (never unmarks). */
  updateIngestBatch(batch: number, added: number, bulk: boolean): void;
  /** Remembers that the paper came (also) through `origin`; idempotent. */
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
  /**
   * Deletes papers by row id (unknown ones are skipped) and returns those it deleted. Each removal
   * is a change of its own generation, kept as a tombstone so indexes drop the paper on catch-up;
   * a removed paper's row id is never given to another paper.
   */
  remove(rowIds: readonly number[]): Paper[];
  /** Row ids of the papers removed after store generation `generation`, ascending. */
  removedSince(generation: number): number[];
  /**
   * What `upsert` would do with the record, writing nothing. `seen` carries the records of the
   * same dry run (it is updated here), so a repeat counts as a real ingest would count it.
   */
  previewUpsert(record: PaperRecord, seen: Map<string, PaperStamp>): UpsertStatus;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  /** Where the store lives (a file, a server) and its size, for `stats`. */
  describe(): { location: string; bytes: number };
  /** Closes the store; further calls throw. Idempotent. */
  close(): void;
}

/** What a dry run remembers of a paper it would write: its version and content hash. */
export interface PaperStamp {
  version: number | null;
  contentHash: string;
}

/**
 * The data directory's write lock: one writing process at a time (ingest, remove, index
 * --rebuild, a digest's gather), so no writer saves an index missing another's papers. Readers
 * never need it. A lock left by a process that is no longer running is taken over.
 */
export interface WriteLock {
  /**
   * Holds the lock until `release`. While another process holds it, waits (saying so once per
   * holder through the adapter's notice callback) and rejects with a `PaperbotError` (`data_dir`)
   * after the adapter's timeout. Not re-entrant: the caller serialises its own writers.
   */
  acquire(): Promise<WriteLockHold>;
  /** The lock when it is free right now, else undefined; never waits. */
  tryAcquire(): WriteLockHold | undefined;
}

export interface WriteLockHold {
  /** Gives the lock up; idempotent. */
  release(): void;
}

/** What `stats` shows of an index, whatever its backend: a size on disk and its own parameters. */
export interface IndexDescription {
  /** Where it lives (a file, a table), for the operator. */
  location: string;
  bytes: number;
  /** Backend parameters (BM25's k1, HNSW's M…), shown as they are. */
  parameters: Record<string, number | string>;
}

/**
 * Keyword retrieval over titles and abstracts. Additions and removals are buffered until
 * `commit()` (searches see the last committed state); `add` of a known row id replaces it.
 * Scores are higher-is-better and comparable only within one index.
 */
export interface KeywordIndex {
  /** Live (committed and pending) papers. */
  readonly size: number;
  readonly vocabularySize: number;
  /** True while additions or removals wait for `commit()`. */
  readonly dirty: boolean;
  add(rowId: number, title: string, abstract: string): void;
  remove(rowId: number): void;
  /** Merges pending changes so searches see them. Idempotent. */
  commit(): void;
  /** The top `k` papers for analysed query terms, best first; ties by row id. Commits first if needed. */
  search(terms: readonly string[], k: number): ScoredRowId[];
  /** The best score a paper could reach for these terms (the relevance ratio's denominator). */
  maxScore(terms: readonly string[]): number;
  /** Inverse document frequency of an analysed term; high for unknown terms. */
  idf(term: string): number;
  describe(): Omit<IndexDescription, 'location' | 'bytes'>;
}

/**
 * Where keyword indexes live between runs. `load` returns the saved index with the store
 * generation it matches, or throws a `PaperbotError` (`index`, or a `code` of `ENOENT` when
 * there is none yet); a damaged file is never half-read. `save` is atomic: a crash leaves the
 * previous file.
 */
export interface KeywordIndexProvider {
  create(): KeywordIndex;
  load(): { index: KeywordIndex; generation: number };
  save(index: KeywordIndex, generation: number): void;
  describe(index: KeywordIndex): IndexDescription;
}

/**
 * Nearest-neighbour search over paper vectors, labelled by row id. Cosine similarity, higher is
 * better. `upsert` of a known row id replaces its vector; vectors must have `dimension` entries.
 */
export interface VectorIndex {
  /** The embedder whose vectors the index holds; a query must be embedded by the same. */
  readonly embedderId: string;
  readonly dimension: number;
  readonly size: number;
  upsert(rowId: number, vector: Float32Array): void;
  remove(rowId: number): void;
  /** The `k` nearest papers, best first (fewer when the index holds fewer). */
  search(query: Float32Array, k: number): ScoredRowId[];
  /** Exact similarity of the query to each listed paper the index holds, in the order given. */
  similarity(query: Float32Array, rowIds: readonly number[]): ScoredRowId[];
}

/** What a saved vector index says about itself, readable without loading it. */
export interface VectorIndexHeader {
  embedderId: string;
  dimension: number;
  /** The store generation whose papers all have their vector in the saved index. */
  storeGeneration: number;
}

/**
 * Creates, opens and saves vector indexes (a file beside the store, a table in a database).
 * `header` reads what was saved, cheaply, or undefined when there is none; `open` loads it and
 * throws a `PaperbotError` with code `index` when it is damaged (the caller rebuilds).
 * `prefetch` may start the load early (a background read); `open` then uses it.
 * `save` is atomic and records the store generation the index matches.
 */
export interface VectorIndexProvider {
  header(): VectorIndexHeader | undefined;
  prefetch(): void;
  open(): Promise<VectorIndex>;
  create(embedderId: string, dimension: number, expectedPapers: number): VectorIndex;
  save(index: VectorIndex, storeGeneration: number): void;
  describe(index: VectorIndex): IndexDescription;
}

/**
 * Turns texts into vectors. `id` names the model (and its version) so an index built with one
 * embedder is never queried with another; `dimension` is fixed per id. Documents and queries may
 * be embedded differently (prefixes, weights). `embedDocuments` takes at most `maxBatch` texts
 * (the caller batches, once) and returns their vectors in order. Aborting `signal` rejects.
 * Errors: a `PaperbotError` (`ollama_*` codes for the Ollama embedder) that says what to do.
 */
export interface Embedder {
  readonly id: string;
  readonly dimension: number;
  readonly maxBatch: number;
  embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
  embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  messages: readonly ChatMessage[];
  signal?: AbortSignal;
  /** 0 for repeatable output. */
  temperature?: number;
  seed?: number;
  /** Upper bound on generated tokens. */
  maxTokens?: number;
}

/**
 * One piece of a streamed reply. `text` may be empty (a last chunk that only reports how the
 * reply ended); `truncated` is set, on the last chunk, when the model stopped because it reached
 * the request's `maxTokens` rather than because it was done.
 */
export interface ChatChunk {
  text: string;
  truncated?: boolean;
}

/**
 * A chat model: the messages in, the reply out, as a stream of chunks whose texts concatenate to
 * the whole reply, or at once. The stream ends when the model is done or reached `maxTokens`
 * (the last chunk then says `truncated`); a model that stops answering for the adapter's idle
 * timeout, is unreachable or lacks the model rejects with a `PaperbotError` (`ollama_timeout`,
 * `ollama_unreachable`, `ollama_model_missing`, `ollama_failed` for Ollama), before or during the
 * stream. Once a call to its server timed out, an adapter may reject the next calls at once with
 * the same code for a while (a silent server costs one timeout, not one per call). Aborting
 * `signal` ends the stream with the signal's reason.
 */
export interface ChatModel {
  /** The `Answer.mode` of answers it writes (`ollama`). */
  readonly mode: string;
  /** The model's name (`llama3.2`), shown in `stats` and `Answer.model`. */
  readonly model: string;
  stream(request: ChatRequest): AsyncIterable<ChatChunk>;
  /** The whole reply at once (short replies such as digest summaries), with the same errors. */
  complete(request: ChatRequest): Promise<string>;
}

/**
 * Turns a question and its retrieved papers into an `Answer`, streamed. Deltas concatenate to the
 * final answer's text and carry only checked citations. Throws a `PaperbotError` (before or
 * during the stream) when it cannot answer; the core then falls back to the extractive answerer.
 * An answer cut short (a deadline, a token cap) is still an `Answer`: the text so far, checked,
 * with one line in `notices` saying why it ends there. `startedAt` (`performance.now()` of the
 * ask's start) lets a deadline count the time spent before the answerer was called.
 */
export interface Answerer {
  readonly mode: string;
  stream(question: string, retrieval: Retrieval, options?: { signal?: AbortSignal; history?: readonly PastTurn[]; startedAt?: number }): AsyncGenerator<AnswerEvent>;
}

/**
 * The turns of chat conversations (a thread), so follow-ups keep their context across
 * restarts. Conversation ids are opaque here (the chat layer's codec makes them).
 */
export interface ConversationStore {
  addTurn(conversation: string, turn: PastTurn): void;
  /** The last `limit` turns, oldest first; empty for a conversation never seen. */
  turns(conversation: string, limit: number): PastTurn[];
}

/**
 * Answers posted in chat and the 👍 / 👎 their askers give. `logAnswer` returns the id the
 * feedback buttons carry; `record` stores one person's rating of it (their latest press wins,
 * so it is idempotent per person) and throws `not_found` for an unknown answer id.
 */
export interface AnswerLog {
  logAnswer(answer: LoggedAnswer): number;
  record(answerId: number, userId: string, rating: Rating): FeedbackEntry;
  /** Feedback, newest first. */
  list(limit: number): FeedbackEntry[];
}

