/**
 * The embedded answerer: no model, no server. It quotes, verbatim, the sentences of the top
 * abstracts that best cover the question's terms, each followed by its `[n]`. Honest by
 * construction: every sentence it shows is in the cited abstract (a sentence over 400 characters
 * is quoted up to a word boundary, then "…").
 */
import { numberSources, paperUrl, round } from './answer.ts';
import type { Answerer } from './ports.ts';

import { documentTerms, splitSentences } from './text.ts';

import type { Answer, AnswerEvent, Citation, Retrieval, RetrievedPaper } from './types.ts';
export const EXTRACTIVE_HEADING = 'Extractive answer: sentences quoted from the abstracts (no language model was used).';
/** The longest quote, "…" included: an abstract with no sentence breaks must not be quoted whole. */
export const MAX_QUOTE_CHARS = 400;
const ELLIPSIS = '…';

/**
 * The sentence as quoted: whole when it fits `max`, else verbatim up to the last word boundary
 * that fits (a hard cut, never inside a surrogate pair, when the first word alone is too long),
 * then "…". At most `max` characters.
 */
export function capQuote(sentence: string, max = MAX_QUOTE_CHARS): string {
  if (sentence.length <= max) return sentence;
  const room = max - ELLIPSIS.length;
  const space = sentence.slice(0, room + 1).search(/\s\S*$/);
  let cut = space > 0 ? space : room;
  const code = sentence.charCodeAt(cut);
  if (space <= 0 && code >= 0xdc00 && code <= 0xdfff) cut -= 1;
  return sentence.slice(0, cut).trimEnd() + ELLIPSIS;
}

export interface ExtractiveOptions {
  /** How many sentences to quote in all. */
  sentences: number;
  /** At most this many papers are quoted. */
  maxPapers: number;
  /** A paper is quoted only when its score is at least this share of the top paper's. */
  minRelativeScore: number;
  /** Inverse document frequency of an analysed term. */
  idf: (term: string) => number;
}

interface Candidate {
  hit: RetrievedPaper;
  rank: number;
  position: number;
  sentence: string;
  score: number;
}

/** Scores every sentence of the candidate papers by idf-weighted coverage of the query terms. */
export function scoreSentences(retrieval: Retrieval, options: ExtractiveOptions): Candidate[] {
  const queryWeights = new Map(retrieval.terms.map((term) => [term, options.idf(term)]));
  const totalWeight = [...queryWeights.values()].reduce((sum, weight) => sum + weight, 0) || 1;
  const top = retrieval.hits[0]?.score ?? 0;
  const candidates: Candidate[] = [];
  retrieval.hits.slice(0, options.maxPapers).forEach((hit, rank) => {
    if (top <= 0 || hit.score < options.minRelativeScore * top) return;
    splitSentences(hit.paper.abstract).forEach((sentence, position) => {
      const terms = new Set(documentTerms(sentence));
      let covered = 0;
      for (const [term, weight] of queryWeights) if (terms.has(term)) covered += weight;
      const words = sentence.split(/\s+/).length;
      // Very long sentences cover more terms by chance; short fragments say little.
      const lengthPenalty = words > 45 ? 45 / words : words < 6 ? 0.5 : 1;
      const score = (covered / totalWeight) * lengthPenalty * (hit.score / top);
      candidates.push({ hit, rank, position, sentence, score });
    });
  });
  return candidates;
}

/** Picks sentences: the top paper's best one first, then the best of the rest, at most two a paper. */
export function pickSentences(candidates: readonly Candidate[], count: number): Candidate[] {
  const byScore = [...candidates].filter((c) => c.score > 0).sort((a, b) => b.score - a.score || a.rank - b.rank || a.position - b.position);
  const picked: Candidate[] = [];
  const perPaper = new Map<number, number>();
  const take = (candidate: Candidate) => {
    picked.push(candidate);
    perPaper.set(candidate.rank, (perPaper.get(candidate.rank) ?? 0) + 1);
  };
  const firstOfTop = byScore.find((c) => c.rank === 0);
  if (firstOfTop) take(firstOfTop);
  for (const candidate of byScore) {
    if (picked.length >= count) break;
    if (picked.includes(candidate) || (perPaper.get(candidate.rank) ?? 0) >= 2) continue;
    take(candidate);
  }
  // Read as the papers rank, and within a paper in the abstract's own order.
  return picked.sort((a, b) => a.rank - b.rank || a.position - b.position);
}

export class ExtractiveAnswerer implements Answerer {
  readonly mode = 'extractive' as const;

  constructor(private readonly options: ExtractiveOptions) {}

  async *stream(question: string, retrieval: Retrieval): AsyncGenerator<AnswerEvent> {
    const answer = this.answer(question, retrieval);
    yield { type: 'delta', text: answer.text };
    yield { type: 'answer', answer };
  }

  /**
   * `numbering: 'retrieval'` keeps the retrieval order as the numbering (as a model's prompt
   * numbered the papers): used when a model's partial answer, with its [n], is already shown.
   */
  answer(question: string, retrieval: Retrieval, options: { numbering?: 'cited-first' | 'retrieval' } = {}): Answer {
    const started = performance.now();
    const picked = pickSentences(scoreSentences(retrieval, this.options), this.options.sentences);
    // A relevant paper with no sentence sharing a term (rare: a title-only match) still gets quoted.
    const quotes = picked.length ? picked : fallbackQuote(retrieval);
    const citedOrder = [...new Set(quotes.map((q) => q.hit.paper.id))];
    const { sources, numberOf } = numberSources(retrieval, options.numbering === 'retrieval' ? [] : citedOrder);
    if (options.numbering === 'retrieval') for (const source of sources) source.cited = citedOrder.includes(source.paperId);
    const citations: Citation[] = quotes.map((q) => {
      const citation: Citation = { n: numberOf.get(q.hit.paper.id)!, paperId: q.hit.paper.id, title: q.hit.paper.title, quote: capQuote(q.sentence) };
      const url = paperUrl(q.hit.paper);
      if (url) citation.url = url;
      return citation;
    });
    const lines = citations.map((c) => `• "${c.quote}" [${c.n}]`);
    const answerMs = performance.now() - started;
    return {
      question,
      text: [EXTRACTIVE_HEADING, ...lines].join('\n'),
      mode: 'extractive',
      citations,
      sources,
      refusal: null,
      citationsRemoved: 0,
      relevance: { ratio: round(retrieval.relevance.ratio), threshold: retrieval.relevance.threshold },
      notices: [],
      timings: { retrievalMs: round(retrieval.retrievalMs), answerMs: round(answerMs), totalMs: round(retrieval.retrievalMs + answerMs) },
    };
  }
}

function fallbackQuote(retrieval: Retrieval): Candidate[] {
  const hit = retrieval.hits[0];
  const sentence = hit ? splitSentences(hit.paper.abstract)[0] : undefined;
  return hit && sentence ? [{ hit, rank: 0, position: 0, sentence, score: 0 }] : [];
}
