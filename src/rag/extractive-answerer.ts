/**
 * The embedded answerer: no model, no server. It quotes, verbatim, the sentences of the top
 * abstracts that best cover the question's terms, each followed by its `[n]`. Honest by
 * construction: every sentence it shows is in the cited abstract (a sentence over 400 characters
 * is quoted up to a word boundary, then "…").
 */
import { answerRelevance, numberSources, paperUrl, round } from './answer.ts';
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
  /** How many sentences to quote in all, at most (EXTRACTIVE_SENTENCES). */
  sentences: number;
  /** At most this many papers are quoted. */
  maxPapers: number;
  /** A paper is quoted only when its score is at least this share of the top paper's. */
  minRelativeScore: number;
  /** The quotes together hold at most this many characters. */
  maxQuotedChars?: number;
  /** Inverse document frequency of an analysed term. */
  idf: (term: string) => number;
}

/** Quotes in one answer, at most, whatever EXTRACTIVE_SENTENCES says: more is a wall of text, not an answer. */
export const MAX_QUOTES = 4;
/** The quoted text of one answer, all quotes together, at most. */
export const MAX_QUOTED_CHARS = 1000;

interface Candidate {
  hit: RetrievedPaper;
  rank: number;
  position: number;
  sentence: string;
  /** The sentence's distinct index terms (for the repeat check). */
  terms: Set<string>;
  score: number;
}

/** What a question asks for, beyond its topic: a quantity, or a name (dataset, model, method). */
export interface QuestionFocus {
  number: boolean;
  name: boolean;
}

const ASKS_NUMBER =
  /\b(?:how\s+(?:much|many|fast|large|big|small|long|often|well|far|accurate|good)|by\s+how|to\s+what\s+extent|what\s+(?:percentage|fraction|share|proportion|speed-?up|accuracy|score|rate|size|number|gain|improvement|reduction)|(?:speed-?up|percent|percentage|accuracy|score)s?\b.*\?)/i;
const ASKS_NAME = /\b(?:which|what)\s+(?:\w+\s+)?(?:datasets?|benchmarks?|models?|methods?|architectures?|metrics?|tasks?|corpora|corpus|languages?|baselines?|backbones?|encoders?|techniques?|algorithms?)\b/i;

export function questionFocus(question: string): QuestionFocus {
  return { number: ASKS_NUMBER.test(question), name: ASKS_NAME.test(question) };
}

/** A quantity: a number with a decimal, a percent, a multiplier or a unit-like word after it (not a lone year or list index). */
const QUANTITY = /\d+(?:[.,]\d+)?\s*(?:%|×|x\b|times\b|points?\b|fold\b|[kKmMbB]\b|ms\b|s\b|gb\b|tokens?\b|parameters?\b|hours?\b|days?\b|layers?\b)|\d+\.\d+/;
/** A name: a word with inner capitals or digits (ImageNet, GPT-4, ResNet50) or an acronym of 2+ capitals. */
const NAME = /\b(?:[A-Z]{2,}[A-Za-z0-9-]*|[A-Za-z]+[A-Z][A-Za-z0-9-]*|[A-Za-z]+-?\d+[A-Za-z0-9-]*)\b/;
/** Sentences that report what a paper found or achieved: they carry the facts an answer needs. */
const FINDING = /\b(?:outperform|improv|achiev|reduc|accelerat|speed|surpass|state-of-the-art|sota|gains?\b|faster|better|higher|lower|fewer|results?\s+(?:show|demonstrate|indicate)|we\s+(?:show|find|found|demonstrate|observe|prove)|experiments?\s+(?:show|demonstrate))/i;

/** Sentences that say how a method works. */
const METHOD = /\b(?:we\s+(?:propose|introduce|present|use|optimi[sz]e|leverage|employ|design|develop|formulate|derive|train)|our\s+(?:method|approach|key|technique|model|framework|idea)|consists?\s+of|is\s+based\s+on|by\s+(?:optimi[sz]|learn|us|replac|combin))/i;
/** The idf a sentence adds beyond the question's terms at which its novelty counts in full. */
const NOVELTY_SCALE = 60;
const NOVELTY_WEIGHT = 0.8;

/**
 * Scores every sentence of the admitted papers: the idf-weighted share of the question's terms it
 * holds, scaled by its paper's score, plus a little for a sentence that reports a finding, and
 * more for a quantity or a name when the question asks for one.
 */
export function scoreSentences(retrieval: Retrieval, options: ExtractiveOptions, focus: QuestionFocus): Candidate[] {
  const queryWeights = new Map(retrieval.terms.map((term) => [term, options.idf(term)]));
  const totalWeight = [...queryWeights.values()].reduce((sum, weight) => sum + weight, 0) || 1;
  // Papers are admitted by their keyword score against the best one: fused (RRF) scores of the
  // first few ranks are all close, so they cannot tell a second relevant paper from a filler.
  const strength = (hit: RetrievedPaper) => hit.keywordScore ?? (retrieval.mode === 'keyword' ? hit.score : 0);
  const top = Math.max(0, ...retrieval.hits.slice(0, options.maxPapers).map(strength));
  const candidates: Candidate[] = [];
  retrieval.hits.slice(0, options.maxPapers).forEach((hit, rank) => {
    // The first paper is always admitted (retrieval ranked it first, on whatever evidence).
    const paperWeight = top > 0 ? strength(hit) / top : rank === 0 ? 1 : 0;
    if (rank > 0 && paperWeight < options.minRelativeScore) return;
    splitSentences(hit.paper.abstract).forEach((sentence, position) => {
      const terms = new Set(documentTerms(sentence));
      let covered = 0;
      let novel = 0;
      for (const [term, weight] of queryWeights) if (terms.has(term)) covered += weight;
      for (const term of terms) if (!queryWeights.has(term)) novel += options.idf(term);
      const coverage = covered / totalWeight;
      // What the sentence adds beyond the question's own words: how a method works, what it found.
      const novelty = Math.min(1, novel / NOVELTY_SCALE);
      const words = sentence.split(/\s+/).length;
      // Very long sentences cover more terms by chance; short fragments say little.
      const lengthPenalty = words > 45 ? 45 / words : words < 6 ? 0.5 : 1;
      let bonus = NOVELTY_WEIGHT * novelty;
      if (FINDING.test(sentence) || METHOD.test(sentence)) bonus += 0.1;
      if (QUANTITY.test(sentence)) bonus += focus.number ? 0.4 : 0.1;
      if (focus.name && NAME.test(sentence.slice(1))) bonus += 0.2;
      // A sentence that shares no term with the question is quoted only for what the question asks for.
      const score = coverage > 0 || bonus >= 0.4 ? (coverage + bonus) * lengthPenalty * paperWeight * paperWeight : 0;
      candidates.push({ hit, rank, position, sentence, terms, score });
    });
  });
  return candidates;
}

/** True when `candidate` mostly says what `earlier` already says (most of its terms are there). */
function repeats(candidate: Candidate, earlier: Candidate): boolean {
  if (!candidate.terms.size) return true;
  let shared = 0;
  for (const term of candidate.terms) if (earlier.terms.has(term)) shared += 1;
  return shared / Math.min(candidate.terms.size, earlier.terms.size || 1) >= 0.6;
}

/**
 * Picks sentences: the top paper's best one first, then the best of the rest; at most three of
 * the top paper and two of any other, none repeating an earlier pick, within `maxChars` of quoted
 * text (a quote counted as shown, capped at MAX_QUOTE_CHARS).
 */
export function pickSentences(candidates: readonly Candidate[], count: number, maxChars = MAX_QUOTED_CHARS): Candidate[] {
  const byScore = [...candidates].filter((c) => c.score > 0).sort((a, b) => b.score - a.score || a.rank - b.rank || a.position - b.position);
  const picked: Candidate[] = [];
  const perPaper = new Map<number, number>();
  let chars = 0;
  const shownLength = (candidate: Candidate) => capQuote(candidate.sentence).length;
  const fits = (candidate: Candidate) => {
    if (picked.includes(candidate) || (perPaper.get(candidate.rank) ?? 0) >= (candidate.rank === 0 ? 3 : 2)) return false;
    if (chars + shownLength(candidate) > maxChars) return false;
    return !picked.some((earlier) => repeats(candidate, earlier));
  };
  const take = (candidate: Candidate) => {
    picked.push(candidate);
    perPaper.set(candidate.rank, (perPaper.get(candidate.rank) ?? 0) + 1);
    chars += shownLength(candidate);
  };
  const firstOfTop = byScore.find((c) => c.rank === 0);
  if (firstOfTop) take(firstOfTop);
  for (const candidate of byScore) {
    if (picked.length >= count) break;
    if (fits(candidate)) take(candidate);
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
    const picked = pickSentences(scoreSentences(retrieval, this.options, questionFocus(question)), Math.min(this.options.sentences, MAX_QUOTES), this.options.maxQuotedChars);
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
      relevance: answerRelevance(retrieval),
      // Every quote is verbatim from the abstract it cites.
      claims: citations.map((c) => ({ text: c.quote ?? '', cites: [c.n], support: 'quoted' as const })),
      weakClaims: 0,
      notices: [],
      timings: { retrievalMs: round(retrieval.retrievalMs), answerMs: round(answerMs), totalMs: round(retrieval.retrievalMs + answerMs) },
    };
  }
}

function fallbackQuote(retrieval: Retrieval): Candidate[] {
  const hit = retrieval.hits[0];
  const sentence = hit ? splitSentences(hit.paper.abstract)[0] : undefined;
  return hit && sentence ? [{ hit, rank: 0, position: 0, sentence, terms: new Set(documentTerms(sentence)), score: 0 }] : [];
}
