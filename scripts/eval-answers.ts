/**
 * Answer quality for `npm run eval -- --answers FILE.jsonl`: does the answer state the facts a
 * question expects, cite a gold paper, and refuse or hedge where it should? Pure functions only
 * (fact matching, percentiles, aggregation); scripts/eval.ts runs the questions through the core.
 */
import { z } from 'zod';
import { normaliseForMatching, isStopword, stem, words } from '../src/rag/text.ts';
import type { Answer, RelevanceBand } from '../src/rag/types.ts';
import { type BandCounts, emptyBandCounts, matchesGold, mean } from './eval-lib.ts';

/**
 * Words that say nothing about a paper's content, dropped from facts on top of the stopwords, so
 * that "how does the paper propose…" cannot be half-recalled by any answer.
 */
const GENERIC_WORDS = new Set([
  'what', 'which', 'who', 'whom', 'whose', 'when', 'where', 'why', 'how', 'does', 'did', 'done',
  'can', 'could', 'would', 'should', 'may', 'might', 'must', 'has', 'have', 'had', 'were', 'been',
  'being', 'from', 'than', 'its', 'our', 'you', 'your', 'them', 'those', 'also', 'very', 'each',
  'onto', 'about', 'paper', 'papers', 'study', 'authors', 'propose', 'proposes', 'proposed',
]);

/** A comma between thousands ("1,000", "12,345,678"), dropped so the number compares as "1000". */
const THOUSANDS = /(?<=(?<![\p{N}.,])\p{N}{1,3}(?:,\p{N}{3})*),(?=\p{N}{3}(?!\p{N}))/gu;

/**
 * A number standing alone ("34.9" in "34.9%"), taken whole because `words()` would split it at
 * the point. Numbers glued to letters ("7B", "3.5x") stay words.
 */
const NUMBER = /(?<![\p{L}\p{N}.])\p{N}+(?:\.\p{N}+)?(?![\p{L}\p{N}]|\.\p{N})/gu;
const DIGIT = /\p{N}/u;

/** Lowercased tokens of a text: `words()`, except that standalone numbers stay whole, without thousands separators. */
function tokens(text: string): string[] {
  const normal = normaliseForMatching(text).replace(THOUSANDS, '');
  const out: string[] = [];
  let last = 0;
  for (const match of normal.matchAll(NUMBER)) {
    out.push(...words(normal.slice(last, match.index)), match[0]);
    last = match.index + match[0].length;
  }
  out.push(...words(normal.slice(last)));
  return out;
}

/** A token as compared: stemmed, except numbers (and words with digits), compared as written. */
const term = (token: string) => (DIGIT.test(token) ? token : stem(token));

/**
 * The distinct content words of a fact, in the form they are compared in: stopwords, generic
 * words and words under 3 letters (unless they hold a digit) dropped; stemmed; numbers whole.
 */
export function contentWords(text: string): string[] {
  const seen = new Set<string>();
  for (const token of tokens(text)) {
    if (isStopword(token) || GENERIC_WORDS.has(token)) continue;
    if (token.length < 3 && !DIGIT.test(token)) continue;
    seen.add(term(token));
  }
  return [...seen];
}

/** Every term of an answer, compared the way `contentWords` compares a fact's. */
export function answerTerms(text: string): Set<string> {
  return new Set(tokens(text).map(term));
}

const IS_NUMBER = /^\p{N}+(?:\.\p{N}+)?$/u;

/**
 * A fact is recalled when more than half of its content words appear in the answer, and every
 * number it states does (as the claim check holds a sentence "supported" only with all its
 * numbers): "FID improved by 7.1%" does not recall "FID improved by 5.2%".
 */
export function factRecalled(fact: string, answer: string | ReadonlySet<string>): boolean {
  const wanted = contentWords(fact);
  if (!wanted.length) return false;
  const have = typeof answer === 'string' ? answerTerms(answer) : answer;
  const found = wanted.filter((word) => have.has(word));
  return found.length * 2 > wanted.length && wanted.every((word) => !IS_NUMBER.test(word) || have.has(word));
}

/** Nearest-rank percentile (p in (0, 100]) of the values; null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? null;
}

export const answerQuestionLine = z
  .object({
    id: z.union([z.string(), z.number()]).transform(String),
    question: z.string().min(1),
    gold: z.array(z.string()).default([]),
    facts: z
      .array(z.string().refine((fact) => contentWords(fact).length > 0, { message: 'a fact needs at least one content word' }))
      .default([]),
    kind: z.string().default('all'),
  })
  .loose();
export type AnswerQuestion = z.output<typeof answerQuestionLine>;

/** One question's answer, scored. `goldCited` is null for a question without gold papers. */
export interface AnswerScore {
  id: string;
  kind: string;
  band: RelevanceBand;
  /** Has gold papers or facts: a question the corpus should answer. */
  answerable: boolean;
  mode: string;
  model?: string;
  factsRecalled: number;
  facts: number;
  goldCited: boolean | null;
  weakClaims: number;
  totalMs: number;
  missedFacts: string[];
}

export function scoreAnswer(question: AnswerQuestion, answer: Answer): AnswerScore {
  const have = answerTerms(answer.text);
  const missedFacts = question.facts.filter((fact) => !factRecalled(fact, have));
  const cited = [...answer.citations, ...answer.sources.filter((source) => source.cited)];
  const goldCited = question.gold.length
    ? cited.some((paper) => question.gold.some((gold) => matchesGold({ id: paper.paperId, title: paper.title }, gold)))
    : null;
  return {
    id: question.id,
    kind: question.kind,
    band: answer.relevance.band,
    answerable: question.gold.length > 0 || question.facts.length > 0,
    mode: answer.mode,
    ...(answer.model === undefined ? {} : { model: answer.model }),
    factsRecalled: question.facts.length - missedFacts.length,
    facts: question.facts.length,
    goldCited,
    weakClaims: answer.weakClaims ?? 0,
    totalMs: answer.timings.totalMs,
    missedFacts,
  };
}

export interface AnswerMetrics {
  n: number;
  /** Mean share of facts recalled, over questions with facts. */
  factRecall: number | null;
  /** Share of questions with gold papers whose answer cites one. */
  goldCited: number | null;
  weakClaimsPerAnswer: number | null;
  latencyMs: { p50: number | null; p95: number | null };
  bands: BandCounts;
}

export interface AnswerReport {
  /** The first non-refusal answer's mode and model (`refusal` when every question was refused), and how many answers each mode gave. */
  answerer: { mode: string; model?: string; modes: Record<string, number> };
  overall: AnswerMetrics;
  byKind: Record<string, AnswerMetrics>;
  bands: BandCounts;
  perQuestion: AnswerScore[];
}

function metrics(scores: readonly AnswerScore[]): AnswerMetrics {
  const withFacts = scores.filter((s) => s.facts > 0);
  const withGold = scores.filter((s) => s.goldCited !== null);
  const times = scores.map((s) => s.totalMs);
  return {
    n: scores.length,
    factRecall: mean(withFacts.map((s) => s.factsRecalled / s.facts)),
    goldCited: mean(withGold.map((s) => (s.goldCited ? 1 : 0))),
    weakClaimsPerAnswer: mean(scores.map((s) => s.weakClaims)),
    latencyMs: { p50: percentile(times, 50), p95: percentile(times, 95) },
    bands: bandCounts(scores),
  };
}

/** Bands split by whether the question is answerable (gold papers or facts) or not. */
function bandCounts(scores: readonly AnswerScore[]): BandCounts {
  const bands = emptyBandCounts();
  for (const score of scores) bands[score.answerable ? 'answerable' : 'unanswerable'][score.band] += 1;
  return bands;
}

/** Overall and per-kind metrics (kinds in first-seen order), band counts and the answerer. */
export function aggregateAnswers(scores: readonly AnswerScore[]): AnswerReport {
  const kinds = new Map<string, AnswerScore[]>();
  const modes: Record<string, number> = {};
  for (const score of scores) {
    kinds.set(score.kind, [...(kinds.get(score.kind) ?? []), score]);
    modes[score.mode] = (modes[score.mode] ?? 0) + 1;
  }
  const first = scores.find((s) => s.mode !== 'refusal');
  return {
    answerer: { mode: first?.mode ?? 'refusal', ...(first?.model === undefined ? {} : { model: first.model }), modes },
    overall: metrics(scores),
    byKind: Object.fromEntries([...kinds].map(([kind, group]) => [kind, metrics(group)])),
    bands: bandCounts(scores),
    perQuestion: [...scores],
  };
}
