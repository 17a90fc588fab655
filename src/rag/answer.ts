/**
 * The numbering rule for an `Answer`'s sources: cited papers first (in order of first citation), then the other retrieved
 * papers. Each `[n]` in the text is the `n` of one entry in `sources`.
 */
import { arxivUrl, paperDate } from './paper.ts';
import type { Answer, AnswerSource, Paper, Retrieval } from './types.ts';

/** The URL to show for a paper: its own, else its arXiv page when its id is an arXiv id. */
export function paperUrl(paper: Paper): string | undefined {
  return paper.url ?? arxivUrl(paper.id);
}

/**
 * Numbers the retrieved papers: `citedOrder` (paper ids in order of first citation) get 1..c,
 * the rest follow in retrieval order. Returns the sources and a lookup from paper id to number.
 */
export function numberSources(retrieval: Retrieval, citedOrder: readonly string[]): { sources: AnswerSource[]; numberOf: Map<string, number> } {
  const cited = new Set(citedOrder);
  const byId = new Map(retrieval.hits.map((hit) => [hit.paper.id, hit]));
  const ordered = [...citedOrder.flatMap((id) => byId.get(id) ?? []), ...retrieval.hits.filter((hit) => !cited.has(hit.paper.id))];
  const numberOf = new Map<string, number>();
  const sources = ordered.map((hit, i) => {
    numberOf.set(hit.paper.id, i + 1);
    return toSource(hit.paper, hit.score, i + 1, cited.has(hit.paper.id));
  });
  return { sources, numberOf };
}

export function toSource(paper: Paper, score: number, n: number, cited: boolean): AnswerSource {
  const source: AnswerSource = { n, paperId: paper.id, title: paper.title, score: round(score), cited };
  const url = paperUrl(paper);
  if (url) source.url = url;
  const date = paperDate(paper);
  if (date) source.date = date;
  return source;
}

/**
 * The answer to a question nothing answers: retrieval found nothing relevant (it never reaches
 * a model), or the model said the abstracts do not answer it (`reason` says so). Band `none`.
 */
export function refusalAnswer(question: string, retrieval: Retrieval, options: { reason?: string; closestCount?: number } = {}): Answer {
  const { sources } = numberSources(retrieval, []);
  const closest = sources.slice(0, options.closestCount ?? 3);
  const reason = options.reason ?? `Nothing in the ${retrieval.corpusSize} papers here answers this question.`;
  return {
    question,
    text: closest.length
      ? `${reason} The closest papers are listed below, but they are probably not what you need.`
      : `${reason} No paper shares any of its terms.`,
    mode: 'refusal',
    citations: [],
    sources: closest,
    refusal: { reason, closest },
    citationsRemoved: 0,
    relevance: { ...answerRelevance(retrieval), band: 'none' },
    claims: [],
    weakClaims: 0,
    notices: [],
    timings: { retrievalMs: round(retrieval.retrievalMs), answerMs: 0, totalMs: round(retrieval.retrievalMs) },
  };
}

/** The relevance an `Answer` reports: the ratio (rounded), the minimum ratio, and the band. */
export function answerRelevance(retrieval: Retrieval): Answer['relevance'] {
  return { ratio: round(retrieval.relevance.ratio), threshold: retrieval.relevance.threshold, band: retrieval.relevance.band };
}

/**
 * The first line of an answer in band `uncertain`: an answer is given, but the user is told
 * plainly that the papers may not answer the question.
 */
export const UNCERTAIN_CAVEAT = 'These papers may not answer your question: they match only part of what it asks, so check each quote against it.';

/** The notice of an answer with weak claims: how many sentences its sources do not back (each marked ⚠ in the text). */
export function weakClaimsNotice(weakClaims: number): string {
  return weakClaims === 1
    ? '1 sentence (marked ⚠) could not be checked against the abstract it cites: read that paper before relying on it.'
    : `${weakClaims} sentences (marked ⚠) could not be checked against the abstracts they cite: read those papers before relying on them.`;
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
