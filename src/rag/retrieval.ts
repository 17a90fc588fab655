/**
 * Keyword retrieval with a relevance decision. "Nothing here is relevant" is a value on the
 * result, not an exception: the caller still gets the closest papers to show.
 */
import type { Paper } from './paper.ts';
import type { PaperStore } from './ports.ts';
import type { Bm25KeywordIndex } from './keyword/bm25-index.ts';
import { queryTerms } from './text.ts';

export interface RetrievedPaper {
  paper: Paper;
  score: number;
}

export interface RelevanceDecision {
  /** Top score divided by the best score the query could reach, in [0, 1]. */
  ratio: number;
  threshold: number;
  relevant: boolean;
}

export interface Retrieval {
  query: string;
  terms: string[];
  hits: RetrievedPaper[];
  relevance: RelevanceDecision;
  /** How many papers were searched. */
  corpusSize: number;
  retrievalMs: number;
}

/**
 * Relevance from the normalised top score (see ../shared/guides/retrieval-findings.md, AUC 0.95).
 * A question with no indexable term at all is never relevant.
 */
export function decideRelevance(topScore: number, maxScore: number, threshold: number): RelevanceDecision {
  const ratio = maxScore > 0 ? Math.min(1, topScore / maxScore) : 0;
  return { ratio, threshold, relevant: maxScore > 0 && ratio >= threshold };
}

export class KeywordRetriever {
  constructor(
    private readonly store: PaperStore,
    private readonly index: Bm25KeywordIndex,
    private readonly relevanceThreshold: number,
  ) {}

  retrieve(query: string, k: number): Retrieval {
    const started = performance.now();
    const terms = queryTerms(query);
    const ranked = this.index.search(terms, k);
    const papers = this.store.getByRowIds(ranked.map((hit) => hit.rowId));
    const byRowId = new Map(papers.map((paper) => [paper.rowId, paper]));
    const hits: RetrievedPaper[] = [];
    for (const { rowId, score } of ranked) {
      const paper = byRowId.get(rowId);
      if (paper) hits.push({ paper, score });
    }
    const relevance = decideRelevance(hits[0]?.score ?? 0, this.index.maxScore(terms), this.relevanceThreshold);
    return { query, terms, hits, relevance, corpusSize: this.index.size, retrievalMs: performance.now() - started };
  }

  /** Inverse document frequency of an analysed term, for answerers that weigh sentences. */
  idf(term: string): number {
    return this.index.idf(term);
  }
}
