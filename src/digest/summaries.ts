/**
 * One-line paper summaries for digests. A model may write them (from the abstract alone), but
 * each is checked before use: one line, not too long, and every number in it must appear in the
 * abstract, since a wrong figure in a channel is worse than no summary. Otherwise, and without
 * a model, the line is the abstract's most informative sentence, quoted.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { PaperbotError } from '../errors.ts';
import { documentTerms, splitSentences } from '../rag/text.ts';

/** Writes a one-sentence summary of an abstract. Rejects with a `PaperbotError` (`ollama_*`) when it cannot. */
export interface PaperSummarizer {
  /** Names the writer (`ollama:llama3.2`) so cached summaries of another model are not reused. */
  readonly id: string;
  summarize(paper: { title: string; abstract: string }, signal?: AbortSignal): Promise<string>;
}

export const MAX_SUMMARY_CHARS = 280;

/** Numbers as written (`1,000`, `3.5`, `42`), normalised: thousands separators dropped. */
export function numbersIn(text: string): string[] {
  return (text.match(/\d+(?:[.,]\d+)*/g) ?? []).map((n) => n.replace(/,(?=\d{3}\b)/g, '').replace(/\.0+$/, ''));
}

export type SummaryCheck = { ok: true; text: string } | { ok: false; reason: string };

/** Accepts a model's summary only when it is one short line and all its numbers are in the abstract. */
export function checkSummary(raw: string, abstract: string): SummaryCheck {
  const text = raw.replace(/^\s*(?:summary\s*:\s*)/i, '').replace(/\s+/g, ' ').trim().replace(/^["“](.*)["”]$/, '$1');
  if (!text) return { ok: false, reason: 'empty' };
  if (text.length > MAX_SUMMARY_CHARS) return { ok: false, reason: `longer than ${MAX_SUMMARY_CHARS} characters` };
  if (/\n/.test(raw.trim())) {
    // Several lines mean the model did not follow "one sentence"; the first may still be fine, but a list is not.
    if (raw.trim().split('\n').filter((line) => line.trim()).length > 1) return { ok: false, reason: 'more than one line' };
  }
  const known = new Set(numbersIn(abstract));
  const unknown = numbersIn(text).filter((n) => !known.has(n));
  if (unknown.length) return { ok: false, reason: `numbers not in the abstract: ${unknown.join(', ')}` };
  return { ok: true, text };
}

/**
 * The abstract's most informative sentence: the highest sum of term idf over the square root of
 * its length, so a specific claim beats both a generic opener and a long list. Very short
 * fragments are passed over; an over-long winner is cut at a word with an ellipsis.
 */
export function informativeSentence(abstract: string, idf: (term: string) => number): string {
  const sentences = splitSentences(abstract.replace(/\s+/g, ' ').trim());
  let best = '';
  let bestScore = -1;
  sentences.forEach((sentence, position) => {
    const terms = new Set(documentTerms(sentence));
    const words = sentence.split(/\s+/).length;
    if (words < 6 && sentences.length > 1) return;
    let score = 0;
    for (const term of terms) score += idf(term);
    // A slight preference for early sentences: abstracts state their contribution first.
    score = score / Math.sqrt(Math.max(words, 8)) / (1 + position * 0.05);
    if (score > bestScore) {
      best = sentence;
      bestScore = score;
    }
  });
  return shorten(best || abstract.trim(), MAX_SUMMARY_CHARS);
}

export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max * 0.6 ? cut.slice(0, space) : cut).replace(/[\s,;:]+$/, '')}…`;
}

export function abstractHash(abstract: string): string {
  return createHash('sha256').update(abstract).digest('hex').slice(0, 16);
}

export interface SummaryCache {
  summary(rowId: number, abstractHash: string, writer: string): string | undefined;
  saveSummary(rowId: number, abstractHash: string, writer: string, summary: string): void;
}

export interface SummaryPaper {
  rowId: number;
  title: string;
  abstract: string;
}

/**
 * Summaries for a digest's papers: cached ones first, then the model's (checked), else the
 * informative sentence. After the model fails to answer once (down, slow, model missing) the rest
 * of the digest uses sentences, and a note says so, rather than waiting out every paper.
 */
export async function summarisePapers(
  papers: readonly SummaryPaper[],
  parts: {
    summarizer: PaperSummarizer | null;
    cache: SummaryCache;
    idf: (term: string) => number;
    logger?: Logger;
    useModel: boolean;
    signal?: AbortSignal;
    /** A slow model stops being asked once the digest's summaries have taken this long (default two minutes). */
    budgetMs?: number;
  },
): Promise<{ summaries: Map<number, string>; notes: string[] }> {
  const summaries = new Map<number, string>();
  const notes: string[] = [];
  let modelAvailable = parts.useModel && parts.summarizer !== null;
  let rejected = 0;
  const started = performance.now();
  const budgetMs = parts.budgetMs ?? 120_000;
  for (const paper of papers) {
    if (modelAvailable && performance.now() - started > budgetMs) {
      modelAvailable = false;
      parts.logger?.warn({ budgetMs }, 'digest: the model is slow; the remaining summaries are abstract sentences');
      notes.push('Some summaries are quoted from the abstracts: the language model was too slow to write them all.');
    }
    const hash = abstractHash(paper.abstract);
    const writer = parts.summarizer?.id;
    const cached = writer ? parts.cache.summary(paper.rowId, hash, writer) : undefined;
    if (cached) {
      summaries.set(paper.rowId, cached);
      continue;
    }
    if (modelAvailable && parts.summarizer) {
      try {
        const check = checkSummary(await parts.summarizer.summarize(paper, parts.signal), paper.abstract);
        if (check.ok) {
          summaries.set(paper.rowId, check.text);
          parts.cache.saveSummary(paper.rowId, hash, parts.summarizer.id, check.text);
          continue;
        }
        rejected += 1;
        parts.logger?.info({ rowId: paper.rowId, reason: check.reason }, 'digest: model summary rejected; using the abstract sentence');
      } catch (error) {
        modelAvailable = false;
        const why = (error instanceof PaperbotError ? error.message : String(error)).split(/[.:]\s/)[0];
        parts.logger?.info({ err: error }, 'digest: summaries fall back to abstract sentences');
        notes.push(`Summaries are quoted from the abstracts: the language model was not available (${why}).`);
      }
    }
    summaries.set(paper.rowId, informativeSentence(paper.abstract, parts.idf));
  }
  if (rejected) parts.logger?.info({ rejected }, 'digest: model summaries replaced by abstract sentences after the number check');
  return { summaries, notes };
}
