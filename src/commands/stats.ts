/** `stats`: corpus size and index state. */
import { z } from 'zod';
import type { Stats } from '../rag/paperbot-core.ts';
import { defineCommand } from './definition.ts';

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export const statsCommand = defineCommand({
  name: 'stats',
  summary: 'Show corpus size, index state and settings',
  arguments: [],
  options: [],
  input: z.object({}),
  run: async (core): Promise<Stats> => core.stats(),
  toText: (stats) =>
    [
      `papers: ${stats.papers}`,
      `data directory: ${stats.dataDir}`,
      `database: ${stats.database.file} (${megabytes(stats.database.bytes)})`,
      `keyword index: ${stats.keywordIndex.papers} papers, ${stats.keywordIndex.vocabulary} terms, ${megabytes(stats.keywordIndex.bytes)}, ${stats.keywordIndex.upToDate ? 'up to date' : 'out of date'}`,
      `  BM25 k1=${stats.keywordIndex.bm25.k1} b=${stats.keywordIndex.bm25.b} title weight=${stats.keywordIndex.bm25.titleWeight}`,
      `answers: ${stats.answerer}`,
      `settings: TOP_K=${stats.settings.topK} MAX_QUESTION_CHARS=${stats.settings.maxQuestionChars} RELEVANCE_MIN_RATIO=${stats.settings.relevanceThreshold}`,
    ].join('\n'),
});
