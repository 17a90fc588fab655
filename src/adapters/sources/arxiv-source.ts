/**
 * `PaperSource` on the arXiv API (Atom): the newest submissions in the configured categories,
 * paged newest first until the papers are ones an earlier fetch already saw. arXiv asks for one
 * request every 3 s over one connection, so every instance spaces and serialises its requests; and
 * it announces only Sunday to Thursday at 20:00 US Eastern, so a run with no announcement since
 * the last one asks nothing at all.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Cron } from 'croner';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Logger } from 'pino';
import { z } from 'zod';
import { SourceFailure, type PaperSource, type PaperSourceRequest } from '../../digest/model.ts';
import { parseArxivId } from '../../rag/paper.ts';
import { normaliseWhitespace } from '../../rag/text.ts';
import { fetchWithPolicy } from './source-http.ts';

import type { PaperRecord } from '../../rag/types.ts';
export interface ArxivApiOptions {
  /** ARXIV_API_URL. */
  url?: string;
  /** Least time between the starts of two requests (arXiv's terms: 3 s). */
  intervalMs?: number;
  /** Entries per page (`max_results`). */
  maxResults?: number;
  /** At most this many pages per fetch. */
  maxPages?: number;
  timeoutMs?: number;
  maxRetries?: number;
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
  logger?: Logger;
}

export const ARXIV_DEFAULTS = {
  url: 'http://export.arxiv.org/api/query',
  intervalMs: 3_000,
  maxResults: 100,
  maxPages: 3,
  timeoutMs: 20_000,
  maxRetries: 2,
  maxRetryAfterMs: 60_000,
} as const satisfies Required<Omit<ArxivApiOptions, 'fetch' | 'logger'>>;

const ARXIV_ZONE = 'America/New_York';
/** When arXiv announces new submissions. */
const announcements = new Cron('0 20 * * 0-4', { timezone: ARXIV_ZONE, paused: true });
/** The submission deadlines: an announcement lists what arrived before the last deadline preceding it. */
const deadlines = new Cron('0 14 * * 1-5', { timezone: ARXIV_ZONE, paused: true });

/** croner's `previousRuns` is strictly before its reference; we want "at or before". */
function lastAtOrBefore(cron: Cron, at: Date): Date | undefined {
  return cron.previousRuns(1, new Date(at.getTime() + 1))[0];
}

/**
 * The announcement window of a run: whether arXiv announced anything in (since, now], and the
 * submission time after which a paper is one of those announcements. A paper's `published` is
 * its v1 submission time, which precedes its announcement by hours or (over a weekend) days, so
 * comparing it with `since` itself would drop papers announced after `since`.
 */
export function announcementWindow(since: Date, now: Date): { announced: boolean; submittedAfter: Date } {
  const latest = lastAtOrBefore(announcements, now);
  const seen = lastAtOrBefore(announcements, since);
  const seenDeadline = seen ? deadlines.previousRuns(1, seen)[0] : undefined;
  return { announced: latest !== undefined && latest > since, submittedAfter: seenDeadline ?? since };
}

const ARRAY_PATHS = new Set(['feed.entry', 'feed.entry.author', 'feed.entry.category']);
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Titles such as "1984" must stay strings.
  parseTagValue: false,
  // arXiv's `arxiv:primary_category` is found whatever prefix the feed binds.
  removeNSPrefix: true,
  // Decodes numeric character references (`&#39;`) that abstracts carry.
  htmlEntities: true,
  isArray: (_name, jPath) => typeof jPath === 'string' && ARRAY_PATHS.has(jPath),
});

/** An element's text, whether it came as a string or as `{ '#text', '@_…' }` because it has attributes. */
const text = z.preprocess((value) => (value && typeof value === 'object' && '#text' in value ? (value as { '#text': unknown })['#text'] : value), z.string());
const term = z.object({ '@_term': z.string().trim().min(1) });

const atomEntry = z.object({
  id: text.pipe(z.string().trim().min(1)),
  title: text.pipe(z.string().trim().min(1)),
  summary: text.pipe(z.string().trim().min(1)),
  published: text.refine((value) => !Number.isNaN(Date.parse(value)), 'not a date'),
  updated: text.optional().catch(undefined),
  author: z.array(z.object({ name: text.optional().catch(undefined) }).catch({ name: undefined })).default([]).catch([]),
  category: z.array(term.optional().catch(undefined)).default([]).catch([]),
  primary_category: term.optional().catch(undefined),
});
type AtomEntry = z.infer<typeof atomEntry>;

/** Just enough of an entry to recognise arXiv's error feed, whose entry has no `published`. */
const errorEntry = z.object({ id: text.catch(''), title: text.catch(''), summary: text.catch('') });

const atomFeed = z.object({ feed: z.object({ entry: z.array(z.unknown()).default([]) }) });

interface ParsedEntry {
  record: PaperRecord;
  id: string;
  version: number;
  published: Date;
}

type ResolvedOptions = Required<Omit<ArxivApiOptions, 'fetch' | 'logger'>> & Pick<ArxivApiOptions, 'fetch' | 'logger'>;

export class ArxivApiSource implements PaperSource {
  readonly name = 'arxiv' as const;
  readonly label = 'arXiv';
  private readonly options: ResolvedOptions;
  /** When the last request started: the next one waits until `intervalMs` after it. */
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  /** Serialises fetches, so two digests running at once never open two connections to arXiv. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: ArxivApiOptions = {}) {
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<ArxivApiOptions>;
    this.options = { ...ARXIV_DEFAULTS, ...given };
  }

  fetch(request: PaperSourceRequest): Promise<PaperRecord[]> {
    const run = this.queue.then(() => this.fetchNow(request));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async fetchNow(request: PaperSourceRequest): Promise<PaperRecord[]> {
    const categories = [...new Set(request.categories ?? [])];
    if (categories.length === 0) return [];
    const invalid = categories.find((category) => !/^[a-z-]+(?:\.[a-z-]+)?$/i.test(category));
    if (invalid !== undefined) throw new SourceFailure(this.label, `"${invalid}" is not an arXiv category`);

    const window = announcementWindow(request.since, request.now);
    if (!window.announced) {
      this.options.logger?.debug({ source: this.name, since: request.since.toISOString() }, 'no arXiv announcement since the last fetch; not asking');
      return [];
    }

    const newest = new Map<string, ParsedEntry>();
    const { maxResults, maxPages } = this.options;
    for (let page = 0; page < maxPages; page++) {
      const entries = await this.fetchPage(categories, page * maxResults, request.signal);
      for (const entry of entries) {
        // An old paper updated today is listed by update time elsewhere; it is not a new paper.
        if (entry.published <= window.submittedAfter) continue;
        const kept = newest.get(entry.id);
        if (!kept || entry.version > kept.version) newest.set(entry.id, entry);
      }
      const last = entries.at(-1);
      if (entries.length < maxResults || !last || last.published <= window.submittedAfter) break;
      if (page === maxPages - 1) {
        this.options.logger?.warn({ source: this.name, categories, pages: maxPages }, 'arXiv has more new papers than maxPages fetch; the oldest are left out');
      }
    }
    return [...newest.values()].map((entry) => entry.record);
  }

  private async fetchPage(categories: string[], start: number, signal: AbortSignal | undefined): Promise<ParsedEntry[]> {
    const url = new URL(this.options.url);
    url.searchParams.set('search_query', categories.map((category) => `cat:${category}`).join(' OR '));
    url.searchParams.set('sortBy', 'submittedDate');
    url.searchParams.set('sortOrder', 'descending');
    url.searchParams.set('start', String(start));
    url.searchParams.set('max_results', String(this.options.maxResults));
    const body = await fetchWithPolicy(url.toString(), {
      timeoutMs: this.options.timeoutMs,
      maxRetries: this.options.maxRetries,
      maxRetryAfterMs: this.options.maxRetryAfterMs,
      sourceLabel: this.label,
      headers: { accept: 'application/atom+xml' },
      beforeAttempt: () => this.waitTurn(signal),
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      ...(signal ? { signal } : {}),
    });
    return this.parseFeed(body);
  }

  private async waitTurn(signal: AbortSignal | undefined): Promise<void> {
    const wait = this.lastRequestAt + this.options.intervalMs - Date.now();
    if (wait > 0) await delay(wait, undefined, signal ? { signal } : {});
    this.lastRequestAt = Date.now();
  }

  private parseFeed(body: string): ParsedEntry[] {
    // The parser is lenient and would return half a feed from a cut-off body; the validator is not.
    const valid = XMLValidator.validate(body);
    if (valid !== true) {
      throw new SourceFailure(this.label, `malformed response: ${valid.err.msg} (line ${valid.err.line})`);
    }
    const feed = atomFeed.safeParse(parser.parse(body));
    if (!feed.success) throw new SourceFailure(this.label, 'malformed response: not an Atom feed');

    const rawEntries = feed.data.feed.entry;
    const only = rawEntries.length === 1 ? errorEntry.safeParse(rawEntries[0]) : undefined;
    if (only?.success && isErrorEntry(only.data)) {
      throw new SourceFailure(this.label, `API error: ${normaliseWhitespace(only.data.summary) || 'no message'}`);
    }
    const parsed: ParsedEntry[] = [];
    let skipped = 0;
    for (const raw of rawEntries) {
      const entry = atomEntry.safeParse(raw);
      const arxiv = entry.success ? parseArxivId(entry.data.id) : null;
      if (!entry.success || !arxiv) {
        skipped++;
        continue;
      }
      parsed.push(toParsedEntry(entry.data, arxiv));
    }
    if (skipped > 0) this.options.logger?.warn({ source: this.name, skipped }, 'skipped arXiv entries without an arXiv id, title, summary or date');
    return parsed;
  }
}

/** arXiv reports a bad query as a feed with one entry whose id is under /api/errors. */
function isErrorEntry(entry: z.infer<typeof errorEntry>): boolean {
  return entry.id.includes('/api/errors') || entry.title.trim() === 'Error';
}

function toParsedEntry(entry: AtomEntry, arxiv: { id: string; version?: number }): ParsedEntry {
  const published = new Date(entry.published);
  const primary = entry.primary_category?.['@_term'];
  const categories = [...new Set([...(primary ? [primary] : []), ...entry.category.flatMap((c) => (c ? [c['@_term']] : []))])];
  const updated = entry.updated && !Number.isNaN(Date.parse(entry.updated)) ? new Date(entry.updated).toISOString() : undefined;
  const metadata: Record<string, unknown> = { source: 'arxiv' };
  if (updated) metadata['updated'] = updated;
  if (primary) metadata['primary_category'] = primary;
  return {
    id: arxiv.id,
    version: arxiv.version ?? 0,
    published,
    record: {
      // The version stays: the store strips it and treats a higher one as an update.
      sourceId: arxiv.version ? `${arxiv.id}v${arxiv.version}` : arxiv.id,
      title: normaliseWhitespace(entry.title),
      abstract: normaliseWhitespace(entry.summary),
      authors: entry.author.flatMap((author) => (author.name?.trim() ? [normaliseWhitespace(author.name)] : [])),
      url: `https://arxiv.org/abs/${arxiv.id}`,
      published: published.toISOString().slice(0, 10),
      categories,
      metadata,
    },
  };
}
