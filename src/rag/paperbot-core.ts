/**
 * The RAG core's one entry point for every adapter (CLI, Discord, Slack): ask, search, look up a
 * paper, ingest, stats. It validates user input, so every platform rejects the same things the
 * same way.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { PaperbotError } from '../errors.ts';
import { refusalAnswer, round, toSource, type Answer, type AnswerSource } from './answer.ts';
import type { CorpusFormat } from './corpus/formats.ts';
import type { IngestReport, PaperLibrary } from './library.ts';
import type { Paper } from './paper.ts';
import type { Answerer } from './ports.ts';
import { KeywordRetriever, type RelevanceDecision } from './retrieval.ts';

export interface CoreSettings {
  topK: number;
  maxQuestionChars: number;
  relevanceThreshold: number;
}

export interface SearchResult {
  query: string;
  hits: AnswerSource[];
  relevance: RelevanceDecision;
  corpusSize: number;
  retrievalMs: number;
}

export interface Stats {
  dataDir: string;
  papers: number;
  storeGeneration: number;
  database: { file: string; bytes: number };
  keywordIndex: { file: string; papers: number; vocabulary: number; bytes: number; upToDate: boolean; bm25: { k1: number; b: number; titleWeight: number } };
  answerer: string;
  settings: { topK: number; maxQuestionChars: number; relevanceThreshold: number };
}

export class PaperbotCore {
  constructor(
    readonly library: PaperLibrary,
    private readonly answerer: Answerer,
    readonly settings: CoreSettings,
  ) {}

  /** Throws a `usage` error for an empty question or one over the limit. */
  validateQuestion(question: string): string {
    const trimmed = question.trim();
    if (!trimmed) throw new PaperbotError('usage', 'The question is empty. Ask something, e.g. paperbot ask "How can I edit a real photo with a diffusion model?"');
    if (trimmed.length > this.settings.maxQuestionChars) {
      throw new PaperbotError(
        'usage',
        `The question is ${trimmed.length} characters long; the limit is ${this.settings.maxQuestionChars} (MAX_QUESTION_CHARS). Shorten it, or raise MAX_QUESTION_CHARS.`,
      );
    }
    return trimmed;
  }

  retriever(): KeywordRetriever {
    return new KeywordRetriever(this.library.store, this.library.keywordIndex, this.settings.relevanceThreshold);
  }

  async ask(question: string): Promise<Answer> {
    const started = performance.now();
    const text = this.validateQuestion(question);
    const retrieval = this.retriever().retrieve(text, this.settings.topK);
    // A refused question never reaches an answerer (or, later, a model).
    const answer = retrieval.relevance.relevant ? await this.answerer.answer(text, retrieval) : refusalAnswer(text, retrieval);
    answer.timings.totalMs = round(performance.now() - started);
    return answer;
  }

  search(query: string, k = this.settings.topK): SearchResult {
    const text = this.validateQuestion(query);
    const retrieval = this.retriever().retrieve(text, k);
    return {
      query: text,
      hits: retrieval.hits.map((hit, i) => toSource(hit.paper, hit.score, i + 1, false)),
      relevance: { ...retrieval.relevance, ratio: round(retrieval.relevance.ratio) },
      corpusSize: retrieval.corpusSize,
      retrievalMs: round(retrieval.retrievalMs),
    };
  }

  /** A paper by id (arXiv ids with or without version), else by exact title. */
  paper(idOrTitle: string): Paper {
    const key = idOrTitle.trim();
    if (!key) throw new PaperbotError('usage', 'Give a paper id, e.g. paperbot paper 2211.09794 (ids are listed by paperbot search).');
    const versionless = key.replace(/^(\d{4}\.\d{4,5})v\d+$/i, '$1');
    const found = this.library.store.getById(key) ?? this.library.store.getById(versionless) ?? this.library.store.findByTitle(key)[0];
    if (!found) throw new PaperbotError('not_found', `No paper with id "${key}". Find ids with: paperbot search "<words from the title>"`);
    return found;
  }

  ingest(paths: readonly string[], format?: CorpusFormat): Promise<IngestReport> {
    if (!paths.length) throw new PaperbotError('usage', 'Name at least one file or directory to ingest.');
    return this.library.ingest(paths, format ? { format } : {});
  }

  stats(): Stats {
    const { library } = this;
    const databaseFile = path.join(library.dataDir, 'papers.sqlite');
    const index = library.keywordIndex;
    return {
      dataDir: library.dataDir,
      papers: library.store.count(),
      storeGeneration: library.store.generation(),
      database: { file: databaseFile, bytes: fileSize(databaseFile) },
      keywordIndex: {
        file: library.keywordIndexFile,
        papers: index.size,
        vocabulary: index.vocabularySize,
        bytes: fileSize(library.keywordIndexFile),
        upToDate: !index.dirty && index.size === library.store.count(),
        bm25: { ...index.params },
      },
      answerer: this.answerer.mode,
      settings: { ...this.settings },
    };
  }

  close(): void {
    this.library.close();
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
