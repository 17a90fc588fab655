/**
 * The composition root: the only module that reads the configuration and builds the real
 * adapters (SQLite store, keyword index, answerer) before handing them to the core.
 */
import path from 'node:path';
import { SHIPPED_CORPUS_DIR, type Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { ExtractiveAnswerer } from './rag/extractive-answerer.ts';
import { PaperLibrary, type ProgressReporter } from './rag/library.ts';
import { PaperbotCore } from './rag/paperbot-core.ts';

export interface CompositionOptions {
  progress?: ProgressReporter;
  notify?: (message: string) => void;
  logger?: Logger;
  /** Ingest the shipped corpus into an empty store (default true). */
  seed?: boolean;
  /** Overrides PAPERBOT_DATA_DIR (evaluation uses a temporary store). */
  dataDir?: string;
}

export async function createPaperbot(config: Config, options: CompositionOptions = {}): Promise<PaperbotCore> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const library = await PaperLibrary.open({
    dataDir: options.dataDir ?? path.resolve(config.PAPERBOT_DATA_DIR),
    bm25: { k1: config.BM25_K1, b: config.BM25_B, titleWeight: config.BM25_TITLE_WEIGHT },
    shippedCorpusDir: options.seed === false ? null : SHIPPED_CORPUS_DIR,
    logger,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.notify ? { notify: options.notify } : {}),
  });
  const answerer = new ExtractiveAnswerer({
    sentences: config.EXTRACTIVE_SENTENCES,
    maxPapers: 3,
    minRelativeScore: 0.5,
    // Read the index at call time: ingest or a rebuild may replace it.
    idf: (term) => library.keywordIndex.idf(term),
  });
  return new PaperbotCore(library, answerer, {
    topK: config.TOP_K,
    maxQuestionChars: config.MAX_QUESTION_CHARS,
    relevanceThreshold: config.RELEVANCE_MIN_RATIO,
  });
}
