/**
 * The grounded answerer: any `ChatModel` turned into an `Answerer`. It builds the prompt (the
 * abstracts and the question as data), checks every citation as the reply streams, numbers the
 * sources and assembles the `Answer`. Titles and links come from the store, never from the
 * model. A chat-model adapter only speaks its vendor's protocol; everything here is shared.
 */
import type { Logger } from 'pino';
import { PaperbotError } from '../errors.ts';
import { numberSources, round } from './answer.ts';
import { CitationFilter } from './citations.ts';
import type { Answerer, ChatModel } from './ports.ts';
import { buildGroundedPrompt } from './prompt.ts';
import type { Answer, AnswerEvent, Citation, PastTurn, Retrieval } from './types.ts';

export interface GroundedAnswererOptions {
  temperature: number;
  seed?: number;
  /** Abstracts given to the model (the top of the retrieval). */
  maxSources: number;
  logger?: Logger;
}

export class GroundedAnswerer implements Answerer {
  readonly mode: string;

  constructor(
    private readonly model: ChatModel,
    private readonly options: GroundedAnswererOptions,
  ) {
    this.mode = model.mode;
  }

  async *stream(question: string, retrieval: Retrieval, options: { signal?: AbortSignal; history?: readonly PastTurn[] } = {}): AsyncGenerator<AnswerEvent> {
    const { signal, history = [] } = options;
    const started = performance.now();
    const hits = retrieval.hits.slice(0, this.options.maxSources);
    const filter = new CitationFilter(hits.length);
    let text = '';
    const reply = this.model.stream({
      messages: buildGroundedPrompt(question, hits, history),
      temperature: this.options.temperature,
      ...(this.options.seed === undefined ? {} : { seed: this.options.seed }),
      ...(signal ? { signal } : {}),
    });
    for await (const delta of reply) {
      const checked = filter.push(delta);
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
    if (!text.trim()) throw new PaperbotError('ollama_failed', `The model "${this.model.model}" returned an empty answer.`);

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
    if (filter.removed) this.options.logger?.warn({ removed: filter.removed, model: this.model.model }, 'removed citations outside the retrieved set');
    const answerMs = performance.now() - started;
    const answer: Answer = {
      question,
      text,
      mode: this.model.mode,
      model: this.model.model,
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
