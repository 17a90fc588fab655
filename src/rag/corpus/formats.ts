/**
 * Corpus formats paperbot ingests, each turned into `PaperRecord`s or per-line rejections:
 *  - `papers-page`: a text dump of a Hugging Face Daily Papers page (header lines, then a title
 *    line and an abstract line per paper);
 *  - `jsonl`: one JSON object a line, `{id?, title, abstract|summary|text, authors?, url?, published?, categories?}`;
 *  - `beir`: BEIR's corpus.jsonl, `{_id, title, text, metadata?}`.
 * Pure functions: no I/O here, so each rule is testable on strings.
 */
import { z } from 'zod';

import { normaliseWhitespace } from '../text.ts';

import type { PaperRecord } from '../types.ts';
export const CORPUS_FORMATS = ['papers-page', 'jsonl', 'beir'] as const;
export type CorpusFormat = (typeof CORPUS_FORMATS)[number];

export type ParsedLine = { kind: 'paper'; line: number; record: PaperRecord } | { kind: 'rejected'; line: number; reason: string };

/** Guesses the format from the first non-empty line of a file. */
export function detectFormat(firstLine: string): CorpusFormat {
  const trimmed = firstLine.trim();
  if (trimmed.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(trimmed);
      if (value && typeof value === 'object' && '_id' in value) return 'beir';
    } catch {
      // A malformed first JSON line is still JSON Lines; the line itself is rejected later.
    }
    return 'jsonl';
  }
  return 'papers-page';
}

const nameList = z
  .union([
    z.array(z.union([z.string(), z.object({ name: z.string() }).loose()]).transform((item) => (typeof item === 'string' ? item : item.name))),
    z.string().transform((value) => value.split(/\s*(?:,|;|\band\b)\s*/)),
  ])
  .transform((items) => items.map((item) => normaliseWhitespace(item)).filter(Boolean));

const categoryList = z
  .union([z.array(z.string()), z.string().transform((value) => value.split(/[\s,]+/))])
  .transform((items) => items.map((item) => item.trim()).filter(Boolean));

const idValue = z.union([z.string(), z.number().transform(String)]);
const dateValue = z.union([
  z.string(),
  // Epoch milliseconds; a value outside Date's range is dropped rather than failing the record.
  z.number().transform((value) => {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  }),
]);

/** Fields shared by JSON Lines and BEIR records; unknown keys are ignored. */
const jsonRecordSchema = z
  .object({
    _id: idValue.optional(),
    id: idValue.optional(),
    title: z.unknown().optional(),
    abstract: z.unknown().optional(),
    summary: z.unknown().optional(),
    text: z.unknown().optional(),
    authors: nameList.optional().catch(undefined),
    url: z.string().optional().catch(undefined),
    published: dateValue.optional().catch(undefined),
    categories: categoryList.optional().catch(undefined),
    metadata: z.record(z.string(), z.unknown()).optional().catch(undefined),
  })
  .loose();

function textField(...values: unknown[]): string {
  for (const value of values) {
    if (typeof value === 'string') {
      const text = normaliseWhitespace(value);
      if (text) return text;
    }
  }
  return '';
}

/** Parses one JSON Lines or BEIR line. BEIR's `metadata.authors|categories|date*` map onto the paper. */
export function parseJsonLine(text: string, line: number): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'rejected', line, reason: `not valid JSON (${(error as Error).message})` };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'rejected', line, reason: 'not a JSON object' };
  }
  const parsed = jsonRecordSchema.safeParse(value);
  if (!parsed.success) {
    return { kind: 'rejected', line, reason: `unexpected field type: ${parsed.error.issues[0]?.path.join('.') ?? '?'}` };
  }
  const record = parsed.data;
  const title = textField(record.title);
  if (!title) return { kind: 'rejected', line, reason: 'no title' };
  const abstract = textField(record.abstract, record.summary, record.text);
  if (!abstract) return { kind: 'rejected', line, reason: 'no abstract (expected "abstract", "summary" or "text")' };

  const metadata = { ...(record.metadata ?? {}) };
  const authors = record.authors ?? nameList.optional().catch(undefined).parse(metadata['authors']) ?? [];
  const categories = record.categories ?? categoryList.optional().catch(undefined).parse(metadata['categories']) ?? [];
  const metadataDateKey = Object.keys(metadata).find((key) => key.startsWith('date') && typeof metadata[key] === 'string');
  const published = record.published ?? (metadataDateKey ? (metadata[metadataDateKey] as string) : undefined);
  delete metadata['authors'];
  delete metadata['categories'];

  const paper: PaperRecord = { title, abstract, authors, categories, metadata };
  const sourceId = [record._id, record.id].find((value) => value !== undefined && value.trim() !== '');
  if (sourceId !== undefined) paper.sourceId = sourceId.trim();
  if (record.url?.trim()) paper.url = record.url.trim();
  if (published) paper.published = published.trim();
  return { kind: 'paper', line, record: paper };
}

const MONTH = '(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?';
const LISTING_DATE = new RegExp(`^(?:${MONTH}\\s+\\d{1,2}(?:,?\\s+\\d{4})?|\\d{1,2}\\s+${MONTH}(?:\\s+\\d{4})?|\\d{4}-\\d{2}-\\d{2})$`, 'i');

/** Lines of page chrome that a dump of the Daily Papers page carries around the papers. */
const PAGE_CHROME = /^(?:new|subscribe|daily papers|get trending papers in your email inbox!?|by\s*ak and the research community|submit|previous|next|upvote|\d+)$/i;

function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** An abstract is a long line, or a moderately long one that reads as prose (ends a sentence). */
function looksLikeAbstract(text: string): boolean {
  const count = wordCount(text);
  return count >= 25 || (count >= 10 && /[.!?)\]]$/.test(text));
}

/**
 * Streaming parser for the papers-page dump. Feed it lines in order; it pairs each abstract-like
 * line with the short line before it. Header words and stray chrome are skipped; a listing date
 * ("Mar 14") is kept on every paper that follows it.
 */
export class PapersPageParser {
  private pendingTitle: { text: string; line: number } | null = null;
  private listed: string | undefined;
  private papersSeen = 0;

  constructor(private readonly sourceLabel = 'Hugging Face Daily Papers') {}

  push(text: string, line: number): ParsedLine[] {
    const value = normaliseWhitespace(text);
    if (!value) return [];
    if (LISTING_DATE.test(value)) {
      this.listed = value;
      return [];
    }
    if (looksLikeAbstract(value)) {
      const title = this.pendingTitle;
      this.pendingTitle = null;
      if (!title) return [{ kind: 'rejected', line, reason: 'abstract with no title line before it' }];
      this.papersSeen += 1;
      const metadata: Record<string, unknown> = { listing: this.sourceLabel };
      if (this.listed) metadata['listed'] = this.listed;
      return [{ kind: 'paper', line: title.line, record: { title: title.text, abstract: value, authors: [], categories: [], metadata } }];
    }
    const orphan = this.orphanTitle();
    this.pendingTitle = PAGE_CHROME.test(value) ? null : { text: value, line };
    return orphan;
  }

  /** Call at the end of the file: a title still waiting for its abstract is reported. */
  finish(): ParsedLine[] {
    const orphan = this.orphanTitle();
    this.pendingTitle = null;
    return orphan;
  }

  /** A short line followed by another short line: header words before the first paper, else a title without abstract. */
  private orphanTitle(): ParsedLine[] {
    const pending = this.pendingTitle;
    if (!pending || this.papersSeen === 0 || wordCount(pending.text) < 3) return [];
    return [{ kind: 'rejected', line: pending.line, reason: 'title line with no abstract after it' }];
  }
}
