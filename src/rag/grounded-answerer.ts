/**
 * The grounded answerer: any `ChatModel` turned into an `Answerer`. It builds the prompt (the
 * abstracts and the question as data), checks every citation as the reply streams, numbers the
 * sources and assembles the `Answer`. Titles and links come from the store, never from the
 * model. A chat-model adapter only speaks its vendor's protocol; everything here is shared.
 */
import type { Logger } from 'pino';
import { PaperbotError } from '../errors.ts';
import { answerRelevance, numberSources, refusalAnswer, round } from './answer.ts';
import { CitationFilter } from './citations.ts';
import { ClaimMarker } from './claims.ts';
import type { Answerer, ChatModel } from './ports.ts';
import { buildGroundedPrompt, NOT_IN_ABSTRACTS } from './prompt.ts';
import type { Answer, AnswerEvent, Citation, PastTurn, Retrieval } from './types.ts';

export interface GroundedAnswererOptions {
  temperature: number;
  seed?: number;
  /** Abstracts given to the model (the top of the retrieval). */
  maxSources: number;
  /** ANSWER_TIMEOUT_MS: the whole answer's deadline, counted from the ask's start; none when unset. */
  timeoutMs?: number;
  /** OLLAMA_MAX_TOKENS: the most tokens the model may write (the request's `maxTokens`). */
  maxTokens?: number;
  logger?: Logger;
}

/** The one line saying why an answer ends early. */
export const CUT_NOTICES = {
  deadline: (ms: number) => `The answer was cut after ${seconds(ms)} s (ANSWER_TIMEOUT_MS); what the model wrote until then is shown, its citations checked.`,
  tokens: (tokens: number) => `The answer was cut at ${tokens} tokens (OLLAMA_MAX_TOKENS); what the model wrote until then is shown, its citations checked.`,
} as const;

function seconds(ms: number): string {
  return ms < 10_000 ? String(Math.round(ms / 100) / 10) : String(Math.round(ms / 1000));
}

export class GroundedAnswerer implements Answerer {
  readonly mode: string;

  constructor(
    private readonly model: ChatModel,
    private readonly options: GroundedAnswererOptions,
  ) {
    this.mode = model.mode;
  }

  /**
   * Streams the model's answer, its citations checked. Past the deadline (`timeoutMs` from
   * `startedAt`) or at `maxTokens`, the text so far is the answer, with one notice saying it was
   * cut; a deadline reached before any text is an `ollama_timeout` error (the core then answers
   * extractively).
   */
  async *stream(question: string, retrieval: Retrieval, options: { signal?: AbortSignal; history?: readonly PastTurn[]; startedAt?: number } = {}): AsyncGenerator<AnswerEvent> {
    const { signal, history = [] } = options;
    const started = performance.now();
    const { timeoutMs, maxTokens } = this.options;
    const hits = retrieval.hits.slice(0, this.options.maxSources);
    const filter = new CitationFilter(hits.length);
    const deadline = new AbortController();
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => deadline.abort(new DOMException(`the answer took longer than ${timeoutMs} ms`, 'AbortError')), Math.max(0, (options.startedAt ?? started) + timeoutMs - started));
    const notices: string[] = [];
    let text = '';
    const reply = this.model.stream({
      messages: buildGroundedPrompt(question, hits, history),
      temperature: this.options.temperature,
      ...(this.options.seed === undefined ? {} : { seed: this.options.seed }),
      ...(maxTokens === undefined ? {} : { maxTokens }),
      signal: signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal,
    });
    const marker = new MarkerFilter();
    // After the citation filter (it needs whole, valid citations): each sentence that cites is
    // checked against the abstracts it cites as it ends, and a weak one marked.
    const claims = new ClaimMarker((n) => hits[n - 1]?.paper.abstract);
    try {
      for await (const chunk of reply) {
        if (chunk.truncated && maxTokens !== undefined) notices.push(CUT_NOTICES.tokens(maxTokens));
        const shown = marker.push(chunk.text);
        if (marker.refused) break; // stops the model: the rest is not read
        const checked = claims.push(filter.push(shown));
        if (checked) {
          text += checked;
          yield { type: 'delta', text: checked };
        }
      }
    } catch (error) {
      // The caller's cancel, or a failure of the model, ends the answer as before; the deadline cuts it.
      if (!deadline.signal.aborted || signal?.aborted) {
        // What the model wrote before failing is shown (checked) before the fallback, as it streamed.
        const held = signal?.aborted ? '' : claims.push(filter.push(marker.flush()) + filter.flush()) + claims.flush();
        if (held) yield { type: 'delta', text: held };
        throw error;
      }
      if (!text.trim()) throw new PaperbotError('ollama_timeout', `The model "${this.model.model}" wrote nothing within ${seconds(timeoutMs ?? 0)} s (ANSWER_TIMEOUT_MS).`, { cause: error });
      notices.push(CUT_NOTICES.deadline(timeoutMs ?? 0));
    } finally {
      clearTimeout(timer);
    }
    const tail = marker.refused ? '' : marker.flush();
    if (marker.refused) {
      const answer = refusalAnswer(question, retrieval, { reason: `The model (${this.model.model}) found nothing in the closest abstracts that answers this question.` });
      answer.timings.answerMs = round(performance.now() - started);
      yield { type: 'answer', answer };
      return;
    }
    const rest = claims.push(filter.push(tail) + filter.flush()) + claims.flush();
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
      relevance: answerRelevance(retrieval),
      claims: claims.claims,
      weakClaims: claims.claims.filter((claim) => claim.support === 'weak').length,
      notices,
      timings: { retrievalMs: round(retrieval.retrievalMs), answerMs: round(answerMs), totalMs: round(retrieval.retrievalMs + answerMs) },
    };
    yield { type: 'answer', answer };
  }
}

/**
 * Watches the model's reply for NOT_IN_ABSTRACTS: at its start (after blanks and emphasis) it
 * means "the abstracts do not answer" (`refused`); anywhere else it is dropped. A tail that could
 * still become the marker is held back, so it is never shown, not even mid-stream.
 */
/** A reply that is only the marker's start counts as the marker from this many characters ("NOT_IN_T"); shorter is text. */
const MIN_MARKER_PREFIX = 8;

export class MarkerFilter {
  refused = false;
  private started = false;
  private held = '';

  push(chunk: string): string {
    let text = this.held + chunk;
    this.held = '';
    if (!this.started) {
      const head = text.replace(/^[\s*_"'`>#-]+/, '');
      if (head.startsWith(NOT_IN_ABSTRACTS)) {
        this.refused = true;
        return '';
      }
      if (NOT_IN_ABSTRACTS.startsWith(head)) {
        this.held = text; // still undecided (blank, or a prefix of the marker)
        return '';
      }
      this.started = true;
    }
    text = text.split(NOT_IN_ABSTRACTS).join('');
    let keep = Math.min(NOT_IN_ABSTRACTS.length - 1, text.length);
    while (keep > 0 && !NOT_IN_ABSTRACTS.startsWith(text.slice(text.length - keep))) keep -= 1;
    this.held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** The end of the reply: a held tail that did not become the marker is shown. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    const head = rest.replace(/^[\s*_"'`>#-]+/, '');
    if (!this.started && head.length >= MIN_MARKER_PREFIX && NOT_IN_ABSTRACTS.startsWith(head)) {
      // The reply was only the start of the marker (cut by the token cap): still a "no".
      this.refused = true;
      return '';
    }
    return rest;
  }
}
