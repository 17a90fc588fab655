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

/** The answer to a question whose retrieval found nothing relevant. It never reaches a model. */
export function refusalAnswer(question: string, retrieval: Retrieval, closestCount = 3): Answer {
  const { sources } = numberSources(retrieval, []);
  const closest = sources.slice(0, closestCount);
  const reason = `Nothing in the ${retrieval.corpusSize} papers here answers this question.`;
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
    relevance: { ratio: round(retrieval.relevance.ratio), threshold: retrieval.relevance.threshold },
    notices: [],
    timings: { retrievalMs: round(retrieval.retrievalMs), answerMs: 0, totalMs: round(retrieval.retrievalMs) },
  };
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
