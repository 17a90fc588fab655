/**
 * The RAG core's one entry point for every adapter (CLI, Discord, Slack): ask (streamed or not),
 * search, look up a paper, ingest, stats, rebuild. It validates user input, so every platform
 * rejects the same things the same way, and it owns the fallback rule: when the model cannot
 * answer, the user gets the extractive answer and one line saying why.
 */
import type { Logger } from 'pino';
import { PaperbotError, describeError } from '../errors.ts';
import { refusalAnswer, round, toSource, UNCERTAIN_CAVEAT, weakClaimsNotice } from './answer.ts';
import type { CorpusFormat } from './corpus/formats.ts';
import type { ExtractiveAnswerer } from './extractive-answerer.ts';
import type { IngestReport, PaperLibrary, RemoveReport } from './library.ts';
import type { AnswerLog, Answerer, ConversationStore } from './ports.ts';
import { Retriever, type BandThresholds, type FusionSettings } from './retrieval.ts';
import type { Answer, AnswerEvent, AnswerSource, EmbedderChoice, FeedbackEntry, Paper, PastTurn, Rating, RelevanceBand, RelevanceDecision, Retrieval, RetrievalMode } from './types.ts';

export interface CoreSettings {
  topK: number;
  maxQuestionChars: number;
  bands: BandThresholds;
  fusion: FusionSettings;
  retrievalMode: RetrievalMode;
  /** EMBEDDER: used by `index --rebuild` when no embedder is named. */
  embedderChoice: EmbedderChoice;
}

/** What `askStream` yields: checked text, notices (one line each), then the final answer. */
export type CoreEvent = AnswerEvent | { type: 'notice'; text: string };

export interface SearchHit extends AnswerSource {
  keywordScore?: number;
  vectorScore?: number;
}

export interface SearchResult {
  query: string;
  mode: RetrievalMode;
  hits: SearchHit[];
  relevance: RelevanceDecision;
  corpusSize: number;
  retrievalMs: number;
  notices: string[];
}

/** Facts about the model side that `stats` reports; gathered by the composition root. */
export interface ModelStatus {
  chatModel: string;
  embedModel: string;
  ollamaHost: string;
  ollama: { reachable: boolean; models: string[]; hasChatModel: boolean; hasEmbedModel: boolean; error?: string };
  /** The timeout settings in force, by name: the probe `stats` made used the first. */
  timeouts: Record<string, number>;
  /** With OLLAMA_HOSTS: each answer host, probed, with its answers in flight and whether it is left out. */
  answerHosts?: Array<{ host: string; reachable: boolean; hasChatModel: boolean; error?: string; inFlight: number; answered: number; down?: { until: string; reason: string } }>;
}

type IndexParameters = Record<string, number | string>;

export interface Stats {
  dataDir: string;
  papers: number;
  storeGeneration: number;
  database: { file: string; bytes: number };
  /**
   * `parameters` are the backend's own (BM25's k1, b, titleWeight); `bm25` repeats them under
   * the name `stats --json` has always used.
   */
  keywordIndex: { file: string; papers: number; vocabulary: number; bytes: number; upToDate: boolean; parameters: IndexParameters; bm25: IndexParameters };
  /**
   * `parameters` are the backend's own (HNSW's m, efConstruction, efSearch); for `stats --json`
   * readers they are also repeated at the top level, where they always were.
   */
  vectorIndex:
    | ({ state: 'ready'; file: string; embedder: string; dimension: number; papers: number; bytes: number; parameters: IndexParameters } & Record<string, unknown>)
    | { state: 'unavailable' | 'empty' | 'disabled'; reason?: string };
  answers: { primary: string; fallback: 'extractive' };
  models: ModelStatus | null;
  settings: { topK: number; maxQuestionChars: number; relevanceThreshold: number; bands: BandThresholds; retrievalMode: RetrievalMode; fusion: FusionSettings };
}

export interface AskOptions {
  signal?: AbortSignal;
  /** Earlier turns of the same conversation (a chat thread), oldest first. */
  history?: readonly PastTurn[];
}

/**
 * The retrieval query of a follow-up: the question, the titles of the papers it points at by
 * number ("how does it compare to [2]?" names the last answer's source 2), and the previous
 * question, so "and what about its limits?" still finds the topic.
 */
export function followUpQuery(question: string, history: readonly PastTurn[]): string {
  const last = history[history.length - 1];
  if (!last) return question;
  const referenced = [...question.matchAll(/\[(\d+)\]/g)]
    .map((match) => last.answer.sources.find((source) => source.n === Number(match[1]))?.title)
    .filter((title): title is string => Boolean(title));
  return [question, ...referenced, last.question].join('\n');
}

export interface CoreParts {
  library: PaperLibrary;
  /** The model answerer, or null when answers are extractive only. */
  answerer: Answerer | null;
  extractive: ExtractiveAnswerer;
  conversations: ConversationStore;
  answerLog: AnswerLog;
  settings: CoreSettings;
  modelStatus?: () => Promise<ModelStatus>;
  logger?: Logger;
}

export class PaperbotCore {
  readonly library: PaperLibrary;
  readonly settings: CoreSettings;

  constructor(private readonly parts: CoreParts) {
    this.library = parts.library;
    this.settings = parts.settings;
  }

  /** How many papers the library holds (for "Searching N abstracts…"). */
  paperCount(): number {
    return this.library.store.count();
  }

  /** Throws a `usage` error for an empty question or one over the limit. */
  validateQuestion(question: string): string {
    const trimmed = question.trim();
    if (!trimmed) throw new PaperbotError('usage', 'The question is empty. Ask something, e.g. "How can I edit a real photo with a diffusion model?"');
    if (trimmed.length > this.settings.maxQuestionChars) {
      throw new PaperbotError(
        'usage',
        `The question is ${trimmed.length} characters long; the limit is ${this.settings.maxQuestionChars} (MAX_QUESTION_CHARS). Shorten it, or raise MAX_QUESTION_CHARS.`,
      );
    }
    return trimmed;
  }

  retriever(): Retriever {
    const { library, settings } = this;
    return new Retriever(library.store, library.keywordIndex, library.vectors, settings.bands, settings.fusion, this.parts.logger);
  }

  /**
   * Answers a question as a stream: notices, checked text deltas, then the final `Answer`.
   * A refused question never reaches the model. When the model fails (down, slow, missing,
   * broken mid-stream) the stream continues with the extractive answer and a notice saying why.
   * A model answer cut by its deadline or token cap keeps its text, with one notice saying so.
   */
  async *askStream(question: string, options: AskOptions = {}): AsyncGenerator<CoreEvent> {
    const { signal, history = [] } = options;
    const started = performance.now();
    const text = this.validateQuestion(question);
    const retrieval = await this.retriever().retrieve(followUpQuery(text, history), this.settings.topK, this.settings.retrievalMode);
    if (history.length && retrieval.relevance.relevant) await this.bandOfFollowUp(text, retrieval);
    retrieval.query = text;
    const notices = [...retrieval.notices];
    for (const notice of retrieval.notices) yield { type: 'notice', text: notice };

    let answer: Answer | undefined;
    let keepNumbering = false;
    // Band `uncertain`: the answer's first line says the papers may not answer. It goes out just
    // before the first text, so a model that then declines (a refusal) is not preceded by it.
    const uncertain = retrieval.relevance.band === 'uncertain';
    let caveatShown = false;
    const caveat = function* (): Generator<CoreEvent> {
      if (!uncertain || caveatShown) return;
      caveatShown = true;
      yield { type: 'delta', text: `${UNCERTAIN_CAVEAT}\n` };
    };
    if (!retrieval.relevance.relevant) {
      answer = refusalAnswer(text, retrieval);
      yield { type: 'delta', text: answer.text };
    } else if (this.parts.answerer) {
      let streamed = false;
      try {
        for await (const event of this.parts.answerer.stream(text, retrieval, { ...(signal ? { signal } : {}), history, startedAt: started })) {
          if (event.type === 'delta') {
            streamed = true;
            yield* caveat();
          }
          if (event.type === 'answer') answer = event.answer;
          else yield event;
        }
        // The model declined (NOT_IN_THESE_ABSTRACTS): its refusal is shown as any refusal is.
        if (answer?.refusal && !streamed) yield { type: 'delta', text: answer.text };
        // Sentences its sources do not back are counted in the answer's footer (a notice).
        if (answer?.weakClaims) answer.notices.push(weakClaimsNotice(answer.weakClaims));
        // An answer cut short (ANSWER_TIMEOUT_MS, OLLAMA_MAX_TOKENS) says so once, as it ends.
        for (const notice of answer?.notices ?? []) yield { type: 'notice', text: notice };
      } catch (error) {
        // Cancelled by the caller (a shutdown): say so with the caller's reason, not the model's error.
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : error;
        const notice = `${describeError(error)} This is an extractive answer instead.`;
        // Ollama simply not running is the ordinary no-Ollama setup, not a warning.
        const level = error instanceof PaperbotError && error.code === 'ollama_unreachable' ? 'info' : 'warn';
        this.parts.logger?.[level]({ err: error, notified: true }, 'model answer failed; extractive fallback');
        notices.push(notice);
        yield { type: 'notice', text: notice };
        // The model's partial text is already shown with its [n]: keep those numbers meaning the same papers.
        keepNumbering = streamed;
        if (streamed) yield { type: 'delta', text: '\n\n' };
        answer = undefined;
      }
    }
    if (!answer) {
      answer = this.parts.extractive.answer(text, retrieval, { numbering: keepNumbering ? 'retrieval' : 'cited-first' });
      yield* caveat();
      yield { type: 'delta', text: answer.text };
    }
    if (caveatShown && !answer.refusal) answer.text = `${UNCERTAIN_CAVEAT}\n${answer.text}`;
    answer.notices = [...notices, ...answer.notices];
    answer.timings.totalMs = round(performance.now() - started);
    yield { type: 'answer', answer };
  }

  /**
   * A follow-up is retrieved with the thread's last question (so "and its speed?" finds the
   * paper), but that question's words must not make an unrelated follow-up look answerable: the
   * band is no surer than the follow-up's own words make it, and a follow-up whose own words
   * find nothing ("thanks!", "who won the cup?") is answered from the thread, with the caveat.
   */
  private async bandOfFollowUp(text: string, retrieval: Retrieval): Promise<void> {
    const own = (await this.retriever().retrieve(text, 1, 'keyword')).relevance.band;
    const rank: Record<RelevanceBand, number> = { none: 0, uncertain: 1, confident: 2 };
    const band = own === 'none' ? 'uncertain' : rank[own] < rank[retrieval.relevance.band] ? own : retrieval.relevance.band;
    retrieval.relevance = { ...retrieval.relevance, band, relevant: true };
  }

  /** The whole answer at once (for --json and tests). */
  async ask(question: string, options: AskOptions = {}): Promise<Answer> {
    let answer: Answer | undefined;
    for await (const event of this.askStream(question, options)) if (event.type === 'answer') answer = event.answer;
    if (!answer) throw new PaperbotError('internal', 'The answer stream ended without an answer.');
    return answer;
  }

  async search(query: string, k = this.settings.topK, mode: RetrievalMode = this.settings.retrievalMode): Promise<SearchResult> {
    const text = this.validateQuestion(query);
    const retrieval = await this.retriever().retrieve(text, k, mode);
    return {
      query: text,
      mode: retrieval.mode,
      hits: retrieval.hits.map((hit, i) => {
        const result: SearchHit = toSource(hit.paper, hit.score, i + 1, false);
        if (hit.keywordScore !== undefined) result.keywordScore = round(hit.keywordScore);
        if (hit.vectorScore !== undefined) result.vectorScore = round(hit.vectorScore);
        return result;
      }),
      relevance: { ...retrieval.relevance, ratio: round(retrieval.relevance.ratio) },
      corpusSize: retrieval.corpusSize,
      retrievalMs: round(retrieval.retrievalMs),
      notices: retrieval.notices,
    };
  }

  /** A paper by id (arXiv ids with or without version), else by exact title. */
  paper(idOrTitle: string): Paper {
    const key = idOrTitle.trim();
    if (!key) throw new PaperbotError('usage', 'Give a paper id, e.g. paperbot paper 2211.09794 (ids are listed by paperbot search).');
    const found = this.paperById(key) ?? this.library.store.findByTitle(key)[0];
    if (!found) throw new PaperbotError('not_found', `No paper with id "${key}". Find ids with: paperbot search "<words from the title>"`);
    return found;
  }

  /** A paper by its id as `search` shows it (arXiv ids with or without version); no title match. */
  private paperById(id: string): Paper | undefined {
    const key = id.trim();
    const versionless = key.replace(/^(\d{4}\.\d{4,5})v\d+$/i, '$1');
    return this.library.store.getById(key) ?? this.library.store.getById(versionless);
  }

  /** Ingests files; with `dryRun`, reports what the ingest would add, update and reject, writing nothing. */
  ingest(paths: readonly string[], format?: CorpusFormat, options: { dryRun?: boolean } = {}): Promise<IngestReport> {
    if (!paths.length) throw new PaperbotError('usage', 'Name at least one file or directory to ingest.');
    return options.dryRun ? this.library.dryRunIngest(paths, format ? { format } : {}) : this.library.ingest(paths, format ? { format } : {});
  }

  /**
   * Removes papers by id (as `search` shows them; arXiv ids with or without version) from the
   * store and both indexes. Unknown ids are listed in `notFound`; when no id names a paper,
   * nothing is removed and it is a `not_found` error.
   */
  async remove(ids: readonly string[]): Promise<RemoveReport> {
    const wanted = [...new Set(ids.map((id) => id.trim()).filter(Boolean))];
    if (!wanted.length) throw new PaperbotError('usage', 'Name at least one paper id to remove, e.g. paperbot remove 2211.09794 (ids are listed by paperbot search).');
    const nothing = () => new PaperbotError('not_found', `No paper with id ${wanted.map((id) => `"${id}"`).join(', ')}: nothing removed. Find ids with: paperbot search "<words from the title>"`);
    // Checked before waiting for the write lock, and again under it.
    if (!wanted.some((id) => this.paperById(id))) throw nothing();
    const report = await this.library.remove(wanted, (id) => this.paperById(id));
    if (!report.removed.length) throw nothing();
    return report;
  }

  /**
   * Rebuilds the keyword index and, unless vector search is off (RETRIEVAL_MODE=keyword), the
   * vector index with `embedder`, holding the write lock.
   */
  async rebuildIndexes(embedder: EmbedderChoice): Promise<Stats> {
    await this.library.rebuildIndexes((vectors) => vectors.rebuild(embedder));
    return this.stats();
  }

  /** Logs an answer posted on a chat platform; the returned id goes into its feedback buttons. */
  logAnswer(answer: Answer, platform: string): number {
    return this.parts.answerLog.logAnswer({ platform, question: answer.question, paperIds: answer.sources.map((s) => s.paperId), mode: answer.mode });
  }

  /** Stores a 👍 / 👎 on a logged answer, with its question, papers and mode. */
  recordFeedback(answerId: number, userId: string, rating: Rating): FeedbackEntry {
    return this.parts.answerLog.record(answerId, userId, rating);
  }

  /** The last turns of a chat conversation (e.g. `discord:<thread id>`), oldest first. */
  conversation(id: string, limit = 5): PastTurn[] {
    return this.parts.conversations.turns(id, limit);
  }

  /** Remembers a turn of a chat conversation. */
  rememberTurn(id: string, turn: PastTurn): void {
    this.parts.conversations.addTurn(id, turn);
  }

  /** Stored feedback, newest first. */
  feedback(limit = 100): FeedbackEntry[] {
    return this.parts.answerLog.list(limit);
  }

  async stats(): Promise<Stats> {
    const { library } = this;
    const database = library.store.describe();
    const index = library.keywordIndex;
    const keyword = library.keywords.indexes.describe(index);
    const vectors = library.vectors;
    let vectorIndex: Stats['vectorIndex'] = { state: 'disabled' };
    if (vectors?.state.kind === 'ready') {
      const { index: built, embedder } = vectors.state;
      const described = vectors.indexes.describe(built);
      vectorIndex = { ...described.parameters, state: 'ready', file: described.location, embedder: embedder.id, dimension: built.dimension, papers: built.size, bytes: described.bytes, parameters: described.parameters };
    } else if (vectors?.state.kind === 'unavailable') {
      vectorIndex = { state: 'unavailable', reason: vectors.state.reason };
    } else if (vectors) {
      vectorIndex = { state: 'empty' };
    }
    return {
      dataDir: library.dataDir,
      papers: library.store.count(),
      storeGeneration: library.store.generation(),
      database: { file: database.location, bytes: database.bytes },
      keywordIndex: {
        file: keyword.location,
        papers: index.size,
        vocabulary: index.vocabularySize,
        bytes: keyword.bytes,
        // Pending changes count: a search merges them first.
        upToDate: library.keywords.coveredGeneration === library.store.generation() && index.size === library.store.count(),
        parameters: keyword.parameters,
        bm25: keyword.parameters,
      },
      vectorIndex,
      answers: { primary: this.parts.answerer?.mode ?? 'extractive', fallback: 'extractive' },
      models: this.parts.modelStatus ? await this.parts.modelStatus() : null,
      settings: {
        topK: this.settings.topK,
        maxQuestionChars: this.settings.maxQuestionChars,
        // RELEVANCE_MIN_RATIO under the name `stats --json` has always used.
        relevanceThreshold: this.settings.bands.minRatio,
        bands: this.settings.bands,
        retrievalMode: this.settings.retrievalMode,
        fusion: { ...this.settings.fusion },
      },
    };
  }

  close(): void {
    this.library.close();
  }
}
