/**
 * The types the RAG core shares with every layer above it: papers, retrievals, answers,
 * conversation turns and feedback. The bottom module of the project: it imports nothing, so
 * ports, pure logic, orchestration and adapters can all depend on it without a cycle.
 */

/** A paper as a corpus file or a live source describes it, before it is stored. */
export interface PaperRecord {
  /** The id the source gives (BEIR `_id`, JSONL `id`), if any. Normalised by `paperIdentity`. */
  sourceId?: string;
  title: string;
  abstract: string;
  authors: string[];
  url?: string;
  /** Publication date as the source gives it, ideally ISO 8601 (`2023-03-14`). */
  published?: string;
  categories: string[];
  /** Source-specific extras kept as given (listing date, upvotes, …). */
  metadata: Record<string, unknown>;
}

/** A stored paper. `rowId` is stable across updates and serves as the index label. */
export interface Paper extends Omit<PaperRecord, 'sourceId'> {
  rowId: number;
  id: string;
  /** arXiv version number, when the source told us (`2211.09794v2` → 2). */
  version?: number;
  /** Which file or source the paper last came from. */
  source: string;
}

/** What an upsert did to the store. */
export type UpsertStatus = 'added' | 'updated' | 'unchanged';

/** A ranked hit of a retriever: the paper's row id and a score where higher is better. */
export interface ScoredRowId {
  rowId: number;
  score: number;
}

export type RetrievalMode = 'keyword' | 'vector' | 'hybrid';

/** Which embedder builds a new vector index: Ollama's when it has the model (`auto`), or the one named. */
export type EmbedderChoice = 'auto' | 'ollama' | 'local';

export interface RetrievedPaper {
  paper: Paper;
  /** The ranking score of the mode used: BM25 (keyword), cosine (vector) or fused RRF (hybrid). */
  score: number;
  keywordScore?: number;
  vectorScore?: number;
}

/**
 * How sure retrieval is that the papers answer the question: `confident` (answered as usual),
 * `uncertain` (answered, first line a caveat), `none` (refused with the closest titles; no model
 * is called).
 */
export type RelevanceBand = 'confident' | 'uncertain' | 'none';

/** The signals the band is decided from (see `decideBand`), reported with every answer. */
export interface RelevanceSignals {
  /** Top BM25 score divided by the best score the query could reach, in [0, 1]. */
  ratio: number;
  /** `ratio` × `terms`: how many of the question's terms the top paper matches at full strength. */
  evidence: number;
  /** The idf-weighted share of the question's terms found in the top paper's title and abstract, in [0, 1]. */
  coverage: number;
  /** True when the keyword and vector rankings put the same paper first (false without vectors). */
  agree: boolean;
  /** How many distinct terms the question has. */
  terms: number;
}

export interface RelevanceDecision {
  /** Top BM25 score divided by the best score the query could reach, in [0, 1]. */
  ratio: number;
  /** RELEVANCE_MIN_RATIO (kept for scripts; the band decides). */
  threshold: number;
  /** False exactly when `band` is `none`. */
  relevant: boolean;
  band: RelevanceBand;
  signals: RelevanceSignals;
}

/** A sentence of a model's answer that cites sources, checked against the abstracts it cites. */
export interface Claim {
  text: string;
  /** The source numbers it cites. */
  cites: number[];
  /** `quoted`: verbatim in a cited abstract; `supported`: its content words, every number and every name are in the abstracts it cites; `weak`: neither. */
  support: 'quoted' | 'supported' | 'weak';
}

export interface Retrieval {
  query: string;
  terms: string[];
  /** The mode actually used (hybrid falls back to keyword when vectors are unavailable). */
  mode: RetrievalMode;
  hits: RetrievedPaper[];
  relevance: RelevanceDecision;
  /** How many papers were searched. */
  corpusSize: number;
  retrievalMs: number;
  notices: string[];
}

export interface Citation {
  n: number;
  paperId: string;
  title: string;
  url?: string;
  /** The abstract's sentence quoted verbatim, for extractive answers. */
  quote?: string;
}

export interface AnswerSource {
  n: number;
  paperId: string;
  title: string;
  url?: string;
  date?: string;
  score: number;
  /** True when the text cites it; false for "also relevant" and for the closest papers of a refusal. */
  cited: boolean;
}

export interface Refusal {
  reason: string;
  /** The nearest papers, "closest, probably not what you need". */
  closest: AnswerSource[];
}

/**
 * The one answer shape every answerer returns and every adapter renders. Each `[n]` in the text
 * is the `n` of one entry in `sources`.
 */
export interface Answer {
  question: string;
  text: string;
  /** `ollama` for answers written by an Ollama model (scripts read it); other chat-model backends name themselves. */
  mode: 'extractive' | 'ollama' | 'refusal' | (string & {});
  /** The chat model that wrote the text (`llama3.2`); absent for extractive answers and refusals. */
  model?: string;
  citations: Citation[];
  /** Every retrieved paper, numbered: cited ones first. */
  sources: AnswerSource[];
  refusal: Refusal | null;
  /** Citations the model wrote to numbers outside the retrieved set, removed before display. */
  citationsRemoved: number;
  relevance: { ratio: number; threshold: number; band: RelevanceBand };
  /** Every sentence that cites a source, checked against it (extractive answers: all `quoted`). */
  claims: Claim[];
  /** How many claims are `weak`. */
  weakClaims: number;
  /** One-line notices for the user (e.g. why an extractive answer was given). */
  notices: string[];
  timings: { retrievalMs: number; answerMs: number; totalMs: number };
}

/** What an answerer streams: checked text as it is written, then exactly one final `Answer`. */
export type AnswerEvent = { type: 'delta'; text: string } | { type: 'answer'; answer: Answer };

/** An earlier turn of a conversation (a chat thread): the question and the answer given, with its numbered sources. */
export interface PastTurn {
  question: string;
  answer: Pick<Answer, 'text' | 'sources'>;
}

export type Rating = 'up' | 'down';

/** An answer as it was posted in chat, kept so a later 👍 / 👎 knows what it rates. */
export interface LoggedAnswer {
  platform: string;
  question: string;
  paperIds: string[];
  mode: string;
}

export interface FeedbackEntry extends LoggedAnswer {
  id: number;
  createdAt: string;
  answerId: number;
  userId: string;
  rating: Rating;
}

/** Long work reports through this; the CLI draws a bar on a terminal and nothing elsewhere. */
export interface ProgressReporter {
  start(label: string, total: number): void;
  update(done: number): void;
  stop(): void;
}

/** The injected clock: stores and services never read the time any other way. */
export type Clock = () => Date;
