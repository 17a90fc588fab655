/** `stats`: corpus size and index state. */
import { z } from 'zod';
import type { Stats } from '../rag/paperbot-core.ts';
import { defineCommand } from './definition.ts';

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
/** An index backend's own parameters, as it names them (`k1=1.2 b=0.75`, `m=16 efSearch=64`). */
const parameterText = (parameters: Record<string, number | string>) => Object.entries(parameters).map(([name, value]) => `${name}=${value}`).join(' ');

export const statsCommand = defineCommand({
  name: 'stats',
  summary: 'Show corpus size, index state and settings',
  arguments: [],
  options: [],
  input: z.object({}),
  run: (core): Promise<Stats> => core.stats(),
  toText: (stats) =>
    [
      `papers: ${stats.papers}`,
      `data directory: ${stats.dataDir}`,
      `database: ${stats.database.file} (${megabytes(stats.database.bytes)})`,
      `keyword index: ${stats.keywordIndex.papers} papers, ${stats.keywordIndex.vocabulary} terms, ${megabytes(stats.keywordIndex.bytes)}, ${stats.keywordIndex.upToDate ? 'up to date' : 'out of date'}`,
      `  ${parameterText(stats.keywordIndex.parameters)}`,
      stats.vectorIndex.state === 'ready'
        ? `vector index: ${stats.vectorIndex.papers} papers, ${stats.vectorIndex.embedder}, ${stats.vectorIndex.dimension} dimensions, ${megabytes(stats.vectorIndex.bytes)}, ${parameterText(stats.vectorIndex.parameters)}`
        : `vector index: ${stats.vectorIndex.state}${stats.vectorIndex.reason ? ` (${stats.vectorIndex.reason})` : ''}`,
      `answers: ${stats.answers.primary}, falling back to ${stats.answers.fallback}`,
      ...(stats.models
        ? [
            `Ollama at ${stats.models.ollamaHost}: ${stats.models.ollama.reachable ? 'reachable' : `not reachable (${stats.models.ollama.error ?? 'no answer'})`}`,
            `  chat model ${stats.models.chatModel}: ${stats.models.ollama.hasChatModel ? 'pulled' : stats.models.ollama.reachable ? `missing (ollama pull ${stats.models.chatModel})` : 'unknown'}`,
            `  embedding model ${stats.models.embedModel}: ${stats.models.ollama.hasEmbedModel ? 'pulled' : stats.models.ollama.reachable ? `missing (ollama pull ${stats.models.embedModel})` : 'unknown'}`,
            ...(stats.models.answerHosts
              ? [
                  `answer hosts (OLLAMA_HOSTS, ${stats.models.answerHosts.length}):`,
                  ...stats.models.answerHosts.map(
                    (h) =>
                      `  ${h.host}: ${h.reachable ? (h.hasChatModel ? 'ready' : `missing ${stats.models!.chatModel} (ollama pull ${stats.models!.chatModel})`) : `not reachable (${h.error ?? 'no answer'})`}, ${h.inFlight} in flight, ${h.answered} answered${h.down ? `, left out until ${h.down.until} (${h.down.reason})` : ''}`,
                  ),
                ]
              : []),
            // The probe above waited OLLAMA_CONNECT_TIMEOUT_MS; answers and embeddings wait OLLAMA_TIMEOUT_MS.
            `  timeouts: ${Object.entries(stats.models.timeouts).map(([name, ms]) => `${name}=${ms}`).join(' ')}`,
          ]
        : []),
      `settings: TOP_K=${stats.settings.topK} MAX_QUESTION_CHARS=${stats.settings.maxQuestionChars} RELEVANCE_MIN_RATIO=${stats.settings.relevanceThreshold} RELEVANCE_MIN_EVIDENCE=${stats.settings.bands.minEvidence} RELEVANCE_CONFIDENT_RATIO=${stats.settings.bands.confidentRatio} RELEVANCE_CONFIDENT_EVIDENCE=${stats.settings.bands.confidentEvidence} RELEVANCE_CONFIDENT_COVERAGE=${stats.settings.bands.confidentCoverage} RETRIEVAL_MODE=${stats.settings.retrievalMode} RRF k=${stats.settings.fusion.k} (keyword ${stats.settings.fusion.keywordWeight}, vector ${stats.settings.fusion.vectorWeight})`,
    ].join('\n'),
});
