/**
 * `PaperSource` on Hugging Face's daily papers (`GET /api/daily_papers?date=YYYY-MM-DD`): one
 * request per listing date since the last fetch, oldest first, one at a time. Keeps the community
 * signal (upvotes, AI keywords) as metadata, because the digest ranks by it.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { SourceFailure, type PaperSource, type PaperSourceRequest } from '../../digest/model.ts';
import { parseArxivId } from '../../rag/paper.ts';
import { normaliseWhitespace } from '../../rag/text.ts';
import { fetchWithPolicy } from './source-http.ts';

import type { PaperRecord } from '../../rag/types.ts';
export interface HuggingFaceDailyPapersOptions {
  /** HF_PAPERS_URL. */
  url?: string;
  timeoutMs?: number;
  maxRetries?: number;
  maxRetryAfterMs?: number;
  /** At most this many listing dates per fetch, the most recent ones (a long downtime is not replayed day by day). */
  maxDays?: number;
  fetch?: typeof fetch;
  logger?: Logger;
}

export const HUGGINGFACE_DEFAULTS = {
  url: 'https://huggingface.co/api/daily_papers',
  timeoutMs: 20_000,
  maxRetries: 2,
  maxRetryAfterMs: 60_000,
  maxDays: 7,
} as const satisfies Required<Omit<HuggingFaceDailyPapersOptions, 'fetch' | 'logger'>>;

const DAY_MS = 86_400_000;

/** Optional fields that are broken are dropped, not fatal: only id, title and summary are required. */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().catch(undefined);

const dailyPaperItem = z.object({
  paper: z.object({
    id: z.string().trim().min(1),
    title: z.string().trim().min(1),
    summary: z.string().trim().min(1),
    authors: optional(z.array(z.object({ name: optional(z.string()) }))),
    publishedAt: optional(z.string()),
    upvotes: optional(z.number()),
    ai_summary: optional(z.string()),
    ai_keywords: optional(z.array(z.string())),
    githubRepo: optional(z.string()),
  }),
});
type DailyPaper = z.infer<typeof dailyPaperItem>['paper'];

/** The UTC dates (`YYYY-MM-DD`) from `since`'s to `now`'s inclusive, oldest first, at most the last `maxDays`. */
export function listingDates(since: Date, now: Date, maxDays: number): string[] {
  const first = Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate());
  const last = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const dates: string[] = [];
  for (let day = Math.max(first, last - (maxDays - 1) * DAY_MS); day <= last; day += DAY_MS) {
    dates.push(new Date(day).toISOString().slice(0, 10));
  }
  return dates;
}

/** The `YYYY-MM-DD` of an ISO timestamp, or undefined when it is not one. */
function isoDate(value: string | null | undefined): string | undefined {
  if (!value || Number.isNaN(Date.parse(value))) return undefined;
  const date = /^\d{4}-\d{2}-\d{2}/.exec(value.trim());
  return date?.[0];
}

export class HuggingFaceDailyPapersSource implements PaperSource {
  readonly name = 'huggingface' as const;
  readonly label = 'Hugging Face daily papers';
  private readonly options: Required<Omit<HuggingFaceDailyPapersOptions, 'fetch' | 'logger'>> & Pick<HuggingFaceDailyPapersOptions, 'fetch' | 'logger'>;

  constructor(options: HuggingFaceDailyPapersOptions = {}) {
    this.options = { ...HUGGINGFACE_DEFAULTS, ...stripUndefined(options) };
  }

  async fetch(request: PaperSourceRequest): Promise<PaperRecord[]> {
    const byKey = new Map<string, PaperRecord & { metadata: { upvotes: number } }>();
    for (const date of listingDates(request.since, request.now, this.options.maxDays)) {
      for (const record of await this.fetchDate(date, request.signal)) {
        const key = parseArxivId(record.sourceId ?? '')?.id ?? record.sourceId ?? record.title;
        const kept = byKey.get(key);
        if (!kept || record.metadata.upvotes > kept.metadata.upvotes) byKey.set(key, record);
      }
    }
    return [...byKey.values()];
  }

  private async fetchDate(date: string, signal: AbortSignal | undefined): Promise<Array<PaperRecord & { metadata: { upvotes: number } }>> {
    const url = new URL(this.options.url);
    url.searchParams.set('date', date);
    const body = await fetchWithPolicy(url.toString(), {
      timeoutMs: this.options.timeoutMs,
      maxRetries: this.options.maxRetries,
      maxRetryAfterMs: this.options.maxRetryAfterMs,
      sourceLabel: this.label,
      headers: { accept: 'application/json' },
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      ...(signal ? { signal } : {}),
    });

    let items: unknown;
    try {
      items = JSON.parse(body);
    } catch (error) {
      throw new SourceFailure(this.label, `malformed response for ${date}: not JSON (${(error as Error).message})`, { cause: error });
    }
    if (!Array.isArray(items)) {
      throw new SourceFailure(this.label, `malformed response for ${date}: expected a JSON array`);
    }

    const records: Array<PaperRecord & { metadata: { upvotes: number } }> = [];
    let skipped = 0;
    let firstProblem: string | undefined;
    for (const item of items) {
      const parsed = dailyPaperItem.safeParse(item);
      if (parsed.success) {
        records.push(toRecord(parsed.data.paper, date));
      } else {
        skipped++;
        firstProblem ??= parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      }
    }
    if (skipped > 0) {
      this.options.logger?.warn({ source: this.name, date, skipped, problem: firstProblem }, 'skipped daily papers items without id, title or summary');
    }
    this.options.logger?.debug({ source: this.name, date, papers: records.length }, 'fetched daily papers');
    return records;
  }
}

function toRecord(paper: DailyPaper, listed: string): PaperRecord & { metadata: { upvotes: number } } {
  const arxiv = parseArxivId(paper.id);
  const hfUrl = `https://huggingface.co/papers/${encodeURIComponent(paper.id)}`;
  const published = isoDate(paper.publishedAt);
  const metadata: Record<string, unknown> & { upvotes: number } = {
    source: 'huggingface',
    listed,
    upvotes: paper.upvotes ?? 0,
    hf_url: hfUrl,
  };
  if (paper.ai_keywords) metadata['ai_keywords'] = paper.ai_keywords;
  if (paper.ai_summary) metadata['ai_summary'] = normaliseWhitespace(paper.ai_summary);
  if (paper.githubRepo) metadata['githubRepo'] = paper.githubRepo;
  return {
    sourceId: paper.id,
    // The summary carries hard line breaks inside paragraphs; the core wants running text.
    title: normaliseWhitespace(paper.title),
    abstract: normaliseWhitespace(paper.summary),
    authors: (paper.authors ?? []).flatMap((author) => (author.name?.trim() ? [normaliseWhitespace(author.name)] : [])),
    url: arxiv ? `https://arxiv.org/abs/${arxiv.id}` : hfUrl,
    ...(published ? { published } : {}),
    categories: [],
    metadata,
  };
}

/** Drops keys set to undefined, so they do not override the defaults. */
function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
