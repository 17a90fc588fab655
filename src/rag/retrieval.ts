/**
 * Retrieval: keyword (BM25) and vector (HNSW) rankings fused by reciprocal rank fusion, with a
 * relevance decision. "Nothing here is relevant" is a value on the result, not an exception: the
 * caller still gets the closest papers to show. When the vector side is unavailable (no index,
 * Ollama down) retrieval says so in `notices` and continues on keywords alone.
 */
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';
import type { KeywordIndex, PaperStore } from './ports.ts';
import { documentTerms, queryTerms } from './text.ts';
import type { Paper, RelevanceBand, RelevanceDecision, RelevanceSignals, Retrieval, RetrievalMode, RetrievedPaper, ScoredRowId } from './types.ts';

/** How many top keyword hits are checked against the store at a time (see `liveHits`). */
const LIVE_CHECK_BATCH = 5;

export const RETRIEVAL_MODES = ['keyword', 'vector', 'hybrid'] as const satisfies readonly RetrievalMode[];

/**
 * The vector side of retrieval: the nearest papers to a query text, best first, with the
 * `alsoScore` papers scored exactly and merged in. Throws when vectors are unavailable (the
 * retriever then continues on keywords and says so).
 */
export interface VectorSearch {
  search(query: string, k: number, alsoScore: readonly number[]): Promise<ScoredRowId[]>;
}

export interface FusionSettings {
  /** RRF's k: larger values flatten the difference between ranks. */
  k: number;
  keywordWeight: number;
  vectorWeight: number;
  /** Candidates taken from each ranking before fusing. */
  candidates: number;
  /** The top keyword candidates also scored exactly against their stored vectors (0: none). */
  exactCandidates: number;
}

/**
 * The thresholds of the three relevance bands (RELEVANCE_* settings), fitted on our own question
 * sets with scripts/fit-bands.ts (README "Relevance bands"). Two signals decide: the ratio (the
 * top BM25 score over the best the question could reach) and the evidence (the ratio times the
 * question's term count: how many of its terms the top paper matches at full strength).
 */
export interface BandThresholds {
  /** Below this ratio… (RELEVANCE_MIN_RATIO) */
  minRatio: number;
  /** …and below this evidence, a question is in band `none` (RELEVANCE_MIN_EVIDENCE). */
  minEvidence: number;
  /** At or above this ratio… (RELEVANCE_CONFIDENT_RATIO) */
  confidentRatio: number;
  /** …or this evidence (RELEVANCE_CONFIDENT_EVIDENCE)… */
  confidentEvidence: number;
  /**
   * …or this coverage with the keyword and vector rankings agreeing on the top paper, a question
   * is `confident` (RELEVANCE_CONFIDENT_COVERAGE); otherwise `uncertain`.
   */
  confidentCoverage: number;
}

export const DEFAULT_BAND_THRESHOLDS: BandThresholds = { minRatio: 0.16, minEvidence: 1, confidentRatio: 0.36, confidentEvidence: 3.2, confidentCoverage: 0.6 };

/**
 * The band from the signals. The ratio alone fails long natural questions: their many words no
 * abstract uses pull it down even when the top paper is right. The evidence does not fall with
 * length, so a long question that matches several of its terms well is not refused, and a short
 * one that matches all of them is confident by its ratio. A question with no indexable term is
 * always `none`.
 */
export function decideBand(signals: RelevanceSignals, thresholds: BandThresholds): RelevanceBand {
  if (signals.terms === 0) return 'none';
  const { ratio, evidence } = signals;
  if (ratio < thresholds.minRatio && evidence < thresholds.minEvidence) return 'none';
  if (ratio >= thresholds.confidentRatio || evidence >= thresholds.confidentEvidence) return 'confident';
  if (signals.agree && signals.coverage >= thresholds.confidentCoverage) return 'confident';
  return 'uncertain';
}

/** The decision from the signals; `threshold` is `minRatio`, kept for scripts reading it. */
export function decideRelevance(signals: RelevanceSignals, thresholds: BandThresholds): RelevanceDecision {
  const band = decideBand(signals, thresholds);
  return { ratio: signals.ratio, threshold: thresholds.minRatio, relevant: band !== 'none', band, signals };
}

/** The idf-weighted share of `terms` that occur in `text`'s index terms, in [0, 1]. */
export function termCoverage(terms: readonly string[], text: string, idf: (term: string) => number): number {
  if (!terms.length) return 0;
  const present = new Set(documentTerms(text));
  let total = 0;
  let covered = 0;
  for (const term of terms) {
    const weight = idf(term);
    total += weight;
    if (present.has(term)) covered += weight;
  }
  return total > 0 ? covered / total : 0;
}

/** Weighted reciprocal rank fusion: score(d) = Σ weight / (k + rank(d)), ranks from 1. Ties keep first-ranking order. */
export function reciprocalRankFusion(rankings: ReadonlyArray<{ weight: number; hits: readonly ScoredRowId[] }>, k: number): ScoredRowId[] {
  const fused = new Map<number, number>();
  for (const { weight, hits } of rankings) {
    hits.forEach((hit, rank) => fused.set(hit.rowId, (fused.get(hit.rowId) ?? 0) + weight / (k + rank + 1)));
  }
  return [...fused].map(([rowId, score]) => ({ rowId, score })).sort((a, b) => b.score - a.score);
}

export class Retriever {
  constructor(
    private readonly store: PaperStore,
    private readonly keywordIndex: KeywordIndex,
    private readonly vectors: VectorSearch | null,
    private readonly bands: BandThresholds,
    private readonly fusion: FusionSettings,
    private readonly logger?: Logger,
  ) {}

  /**
   * The hits without papers another process removed since this process's index last caught up
   * (serve between two polls): a removed paper must not make a question look answerable. Only
   * the top hits are looked up, and more only while they turn out removed; the papers read go
   * into `read`, so the answer does not read them again.
   */
  private liveHits(hits: readonly ScoredRowId[], read: Map<number, Paper>): ScoredRowId[] {
    const gone = new Set<number>();
    for (let from = 0; from < hits.length; from += LIVE_CHECK_BATCH) {
      const batch = hits.slice(from, from + LIVE_CHECK_BATCH).map((hit) => hit.rowId);
      const live = this.store.getByRowIds(batch);
      for (const paper of live) read.set(paper.rowId, paper);
      for (const rowId of batch) if (!read.has(rowId)) gone.add(rowId);
      if (live.length > 0) break;
    }
    return gone.size ? hits.filter((hit) => !gone.has(hit.rowId)) : [...hits];
  }

  async retrieve(query: string, k: number, mode: RetrievalMode = 'hybrid'): Promise<Retrieval> {
    const started = performance.now();
    const terms = queryTerms(query);
    const notices: string[] = [];
    const candidates = Math.max(k, this.fusion.candidates);
    const papers = new Map<number, Paper>();
    const keywordHits = this.liveHits(this.keywordIndex.search(terms, mode === 'keyword' ? k : candidates), papers);
    const maxScore = this.keywordIndex.maxScore(terms);
    const ratio = maxScore > 0 ? Math.min(1, (keywordHits[0]?.score ?? 0) / maxScore) : 0;

    let vectorHits: ScoredRowId[] | null = null;
    // A question with no content word (only stopwords) matches nothing, whatever its vector says.
    if (mode !== 'keyword' && terms.length > 0) {
      try {
        if (!this.vectors) throw new Error('vector search is not configured');
        vectorHits = await this.vectors.search(query, mode === 'vector' ? k : candidates, mode === 'hybrid' ? keywordHits.slice(0, this.fusion.exactCandidates).map((hit) => hit.rowId) : []);
      } catch (error) {
        notices.push(`Vector search unavailable (${describeError(error)}); using keyword search only.`);
        this.logger?.warn({ err: error, notified: true }, 'vector search failed; keyword only');
      }
    }

    let usedMode: RetrievalMode = mode;
    let ranked: ScoredRowId[];
    if (vectorHits === null) {
      if (terms.length > 0) usedMode = 'keyword';
      ranked = keywordHits.slice(0, k);
    } else if (mode === 'vector') {
      ranked = vectorHits.slice(0, k);
    } else {
      ranked = reciprocalRankFusion(
        [
          { weight: this.fusion.keywordWeight, hits: keywordHits },
          { weight: this.fusion.vectorWeight, hits: vectorHits },
        ],
        this.fusion.k,
      ).slice(0, k);
    }

    const keywordScore = new Map(keywordHits.map((hit) => [hit.rowId, hit.score]));
    const vectorScore = new Map((vectorHits ?? []).map((hit) => [hit.rowId, hit.score]));
    for (const paper of this.store.getByRowIds(ranked.map((hit) => hit.rowId).filter((rowId) => !papers.has(rowId)))) papers.set(paper.rowId, paper);
    const hits: RetrievedPaper[] = [];
    for (const { rowId, score } of ranked) {
      const paper = papers.get(rowId);
      if (!paper) continue;
      const hit: RetrievedPaper = { paper, score };
      const keyword = keywordScore.get(rowId);
      const vector = vectorScore.get(rowId);
      if (keyword !== undefined) hit.keywordScore = keyword;
      if (vector !== undefined) hit.vectorScore = vector;
      hits.push(hit);
    }
    const top = hits[0]?.paper;
    const signals: RelevanceSignals = {
      ratio,
      evidence: ratio * terms.length,
      coverage: top ? termCoverage(terms, `${top.title}\n${top.abstract}`, (term) => this.keywordIndex.idf(term)) : 0,
      agree: vectorHits !== null && keywordHits.length > 0 && vectorHits[0]?.rowId === keywordHits[0]?.rowId,
      terms: terms.length,
    };
    const relevance = decideRelevance(signals, this.bands);
    return { query, terms, mode: usedMode, hits, relevance, corpusSize: this.keywordIndex.size, retrievalMs: performance.now() - started, notices };
  }
}
