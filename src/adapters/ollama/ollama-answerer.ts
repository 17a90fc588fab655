/**
 * `Answerer` on a local Ollama chat model: the grounded prompt, streamed, every citation checked
 * as it streams. Titles and links in the final `Answer` come from the store, never from the model.
 */
import type { Logger } from 'pino';
import { PaperbotError } from '../../errors.ts';
import { numberSources, round, type Answer, type Citation } from '../../rag/answer.ts';
import { CitationFilter } from '../../rag/citations.ts';
import type { AnswerEvent, Answerer, ConversationTurn } from '../../rag/ports.ts';
import { buildGroundedPrompt } from '../../rag/prompt.ts';
import type { Retrieval } from '../../rag/retrieval.ts';
import { createOllamaClient, describeOllamaError, idleWatchdog, type OllamaConnection } from './ollama-client.ts';

export interface OllamaAnswererOptions {
  connection: OllamaConnection;
  model: string;
  temperature: number;
  seed?: number;
  /** Abstracts given to the model (the top of the retrieval). */
  maxSources: number;
  logger?: Logger;
}

export class OllamaAnswerer implements Answerer {
  readonly mode = 'ollama' as const;

  constructor(private readonly options: OllamaAnswererOptions) {}

  async *stream(question: string, retrieval: Retrieval, options: { signal?: AbortSignal; history?: readonly ConversationTurn[] } = {}): AsyncGenerator<AnswerEvent> {
    const { signal, history = [] } = options;
    const started = performance.now();
    const { connection, model } = this.options;
    const hits = retrieval.hits.slice(0, this.options.maxSources);
    const filter = new CitationFilter(hits.length);
    const watchdog = idleWatchdog(connection.timeoutMs);
    const aborts = signal ? AbortSignal.any([signal, watchdog.signal]) : watchdog.signal;
    // The client's own timeout must not cut a long but live stream: the watchdog covers it.
    const client = createOllamaClient({ ...connection, timeoutMs: 24 * 60 * 60 * 1000 }, aborts);
    let text = '';
    try {
      const parts = await client.chat({
        model,
        messages: buildGroundedPrompt(question, hits, history),
        stream: true,
        options: { temperature: this.options.temperature, ...(this.options.seed === undefined ? {} : { seed: this.options.seed }) },
      });
      for await (const part of parts) {
        watchdog.touch();
        const content = typeof part?.message?.content === 'string' ? part.message.content : '';
        const checked = filter.push(content);
        if (checked) {
          text += checked;
          yield { type: 'delta', text: checked };
        }
      }
      const rest = filter.flush();
      if (rest) {
        text += rest;
        yield { type: 'delta', text: rest };
      }
    } catch (error) {
      throw describeOllamaError(error, connection.host, model, connection.timeoutMs);
    } finally {
      watchdog.stop();
    }
    if (!text.trim()) throw new PaperbotError('ollama_failed', `Ollama's model "${model}" returned an empty answer.`);

    const citedIds = filter.cited.map((n) => hits[n - 1]!.paper.id);
    // Keep the prompt's numbering: the streamed text already says [n]. Cited papers are listed first by the renderers.
    const { sources } = numberSources({ ...retrieval, hits }, []);
    for (const source of sources) source.cited = citedIds.includes(source.paperId);
    const citations: Citation[] = filter.cited.map((n) => {
      const source = sources[n - 1]!;
      const citation: Citation = { n, paperId: source.paperId, title: source.title };
      if (source.url) citation.url = source.url;
      return citation;
    });
    if (filter.removed) this.options.logger?.warn({ removed: filter.removed, model }, 'removed citations outside the retrieved set');
    const answerMs = performance.now() - started;
    const answer: Answer = {
      question,
      text,
      mode: 'ollama',
      citations,
      sources,
      refusal: null,
      citationsRemoved: filter.removed,
      relevance: { ratio: round(retrieval.relevance.ratio), threshold: retrieval.relevance.threshold },
      notices: [],
      timings: { retrievalMs: round(retrieval.retrievalMs), answerMs: round(answerMs), totalMs: round(retrieval.retrievalMs + answerMs) },
    };
    yield { type: 'answer', answer };
  }
}
