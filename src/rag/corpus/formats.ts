/**
 * Corpus formats paperbot ingests, each turned into `PaperRecord`s or per-line rejections:
 *  - `papers-page`: a text dump of a Hugging Face Daily Papers page (header lines, then a title
 *    line and an abstract line per paper);
 *  - `jsonl`: one JSON object a line, `{id?, title, abstract|summary|text, authors?, url?, published?, categories?}`;
 *  - `beir`: BEIR's corpus.jsonl, `{_id, title, text, metadata?}`.
 * Pure functions: no I/O here, so each rule is testable on strings.
 */
import { z } from 'zod';

import { normaliseForMatching, normaliseWhitespace } from '../text.ts';

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

  /** Forgets a title waiting for its abstract (the abstract line was rejected unread). */
  drop(): void {
    this.pendingTitle = null;
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

/** Per-record size limits; a record over one is rejected with its line number, never stored. */
export interface CorpusLimits {
  /** A longer line is skipped unread (MAX_RECORD_BYTES). */
  maxRecordBytes: number;
  maxTitleChars: number;
  /** MAX_ABSTRACT_CHARS. */
  maxAbstractChars: number;
}

export const DEFAULT_CORPUS_LIMITS = { maxRecordBytes: 1_048_576, maxTitleChars: 1000, maxAbstractChars: 20_000 } as const satisfies CorpusLimits;

const HAS_WORD = /[\p{L}\p{N}]/u;

/** Length in characters (code points), counted only when the UTF-16 length could exceed the limit. */
function overLimit(text: string, limit: number): number | null {
  if (text.length <= limit) return null;
  // Code points: a letter outside the BMP is one character, not two.
  const count = [...text].length;
  return count > limit ? count : null;
}

/**
 * The checks every record passes before it is stored, whatever its format: a title and an
 * abstract that hold at least one letter or digit (after `normaliseForMatching`, so invisible
 * characters alone do not count), within the size limits.
 */
export function checkRecord(parsed: ParsedLine, limits: Pick<CorpusLimits, 'maxTitleChars' | 'maxAbstractChars'>): ParsedLine {
  if (parsed.kind !== 'paper') return parsed;
  const { line, record } = parsed;
  if (!HAS_WORD.test(normaliseForMatching(record.title))) return { kind: 'rejected', line, reason: 'empty title (no letters or digits)' };
  if (!HAS_WORD.test(normaliseForMatching(record.abstract))) return { kind: 'rejected', line, reason: 'empty abstract (no letters or digits)' };
  const titleChars = overLimit(record.title, limits.maxTitleChars);
  if (titleChars !== null) return { kind: 'rejected', line, reason: `title is ${titleChars} characters, over the limit of ${limits.maxTitleChars}` };
  const abstractChars = overLimit(record.abstract, limits.maxAbstractChars);
  if (abstractChars !== null) return { kind: 'rejected', line, reason: `abstract is ${abstractChars} characters, over MAX_ABSTRACT_CHARS (${limits.maxAbstractChars})` };
  return parsed;
}

/** What a line of a file that is not a paper corpus looks like, for the message that rejects it. */
export type ForeignShape = 'markdown' | 'source code' | 'a table or CSV' | 'a log' | 'HTML or XML' | 'JSON';

const FOREIGN_SHAPES: readonly (readonly [ForeignShape, RegExp])[] = [
  // A timestamp near the start of the line, a level word, or a syslog date.
  ['a log', /^.{0,40}?\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|^\[?\d{2}:\d{2}:\d{2}\b|^\[?(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\]?[:\s]|^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} /],
  ['HTML or XML', /^<\/?[A-Za-z!?][^>]*>/],
  ['JSON', /^"[^"]*"\s*:|^[[\]{}],?$/],
  ['a table or CSV', /^\|.*\|$|\t.*\t|(?:,(?=[^\s\d])|[^\s\d],(?=\d)).*(?:,(?=[^\s\d])|[^\s\d],(?=\d))|^[-=|:+ ]{3,}$/],
  ['markdown', /^(?:#{1,6}\s|```|~~~|>\s|[-*+]\s|\d{1,3}[.)]\s|!?\[[^\]]*\]\([^)]*\))/],
  [
    'source code',
    /^(?:\/\/|\/\*|\*\/|#!|#include\b|(?:import|export|from|package|using|const|let|var|function|def|class|interface|public|private|protected|return|fn|pub|func|async|await)\b.*[\s({;:=<]|(?:if|for|while|switch|catch)\s*\()|^(?:if|elif|else|for|while|try|except|finally|with|def|class)\b.*:$|[{};]$|=>|\)\s*\{|^[)}\]];?$/,
  ],
];

/** The shape of a line that no paper title or abstract has, or null for a line that could be either. */
export function foreignShape(text: string): ForeignShape | null {
  const line = text.trim();
  if (!line) return null;
  for (const [shape, pattern] of FOREIGN_SHAPES) if (pattern.test(line)) return shape;
  return null;
}

/** How much of a file the whole-file check reads before it decides. */
export const CORPUS_CHECK_WINDOW = { lines: 100, chars: 2_000_000 } as const;

/**
 * The whole-file check of an auto-detected format, so a README, a CSV, source code or a log is
 * rejected once instead of ingested as dozens of junk "papers". It reads the first
 * `CORPUS_CHECK_WINDOW.lines` non-empty lines and decides:
 *  - papers-page: not a corpus when a fifth or more of the lines have a shape no title or
 *    abstract has (markdown headings, lists or tables; code; CSV; log lines; HTML; JSON), when no
 *    title line is followed by an abstract, or when fewer than half the records it made are papers;
 *  - JSON Lines and BEIR: not a corpus when fewer than a quarter of the lines are paper records.
 * Lines rejected for their size or encoding count neither way.
 */
export class CorpusCheck {
  private lines = 0;
  private chars = 0;
  private papers = 0;
  private rejected: { line: number; reason: string }[] = [];
  private readonly shapes = new Map<ForeignShape, number>();

  constructor(private readonly format: CorpusFormat) {}

  /** A non-empty line was read. */
  noteLine(text: string): void {
    this.lines += 1;
    this.chars += text.length;
    if (this.format !== 'papers-page') return;
    const shape = foreignShape(text);
    if (shape) this.shapes.set(shape, (this.shapes.get(shape) ?? 0) + 1);
  }

  noteOutcome(parsed: ParsedLine): void {
    if (parsed.kind === 'paper') this.papers += 1;
    else this.rejected.push({ line: parsed.line, reason: parsed.reason });
  }

  get windowFull(): boolean {
    return this.lines >= CORPUS_CHECK_WINDOW.lines || this.chars >= CORPUS_CHECK_WINDOW.chars;
  }

  /** Why the file is not a paper corpus, or null when it may be one (or nothing was read). */
  verdict(): string | null {
    const { lines, papers } = this;
    if (lines === 0) return null;
    const rejected = this.rejected.length;
    const first = `the first ${lines === 1 ? 'line' : `${lines} lines`}`;
    if (this.format === 'papers-page') {
      const [shape, count] = [...this.shapes].sort((a, b) => b[1] - a[1])[0] ?? [null, 0];
      const foreign = [...this.shapes.values()].reduce((sum, n) => sum + n, 0);
      if (shape && foreign * 5 >= lines) return `${foreign} of ${first} look like ${shape === 'markdown' || foreign === count ? shape : `${shape} or other non-paper text`}, not paper titles and abstracts`;
      if (papers === 0) return `no title line followed by an abstract in ${first}`;
      if (rejected > papers) return `only ${papers} of the first ${papers + rejected} records are a title line followed by an abstract`;
      return null;
    }
    if (papers === 0 && rejected > 0) return `none of ${first} is a paper record (line ${this.rejected[0]!.line}: ${this.rejected[0]!.reason})`;
    if (rejected > papers * 3) return `only ${papers} of ${first} are paper records`;
    return null;
  }
}
