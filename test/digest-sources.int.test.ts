// The live paper sources (Hugging Face daily papers, the arXiv API) against a fake server on loopback.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArxivApiSource, announcementWindow } from '../src/adapters/sources/arxiv-source.ts';
import { HuggingFaceDailyPapersSource, listingDates } from '../src/adapters/sources/huggingface-source.ts';
import { fetchWithPolicy, retryAfterMs } from '../src/adapters/sources/source-http.ts';
import { SourceFailure } from '../src/digest/model.ts';

import { closedPort, startFakePaperSources, type FakePaperSources } from './helpers/fake-paper-sources.ts';

import type { PaperRecord } from '../src/rag/types.ts';
const fixture = (name: string) => readFileSync(new URL(`./fixtures/digest/${name}`, import.meta.url), 'utf8');
const HF_DAYS: Record<string, string> = {
  '2026-11-26': fixture('hf-daily-papers-2026-11-26.json'),
  '2026-11-27': fixture('hf-daily-papers-2026-11-27.json'),
};
const ARXIV_FEED = fixture('arxiv-cs-cl.xml');
const CATEGORIES = ['cs.CL', 'cs.IR'];

// Friday 27 Nov 2026, 08:00 in Berlin; the last run was Thursday 08:00 Berlin.
const FRIDAY_MORNING = { now: new Date('2026-11-27T07:00:00Z'), since: new Date('2026-11-26T07:00:00Z') };

let fake: FakePaperSources;
beforeEach(async () => {
  fake = await startFakePaperSources();
  fake.route('/api/daily_papers', (request) => ({
    headers: { 'content-type': 'application/json' },
    body: HF_DAYS[request.query['date'] ?? ''] ?? '[]',
  }));
  fake.route('/api/query', () => ({ headers: { 'content-type': 'application/atom+xml' }, body: ARXIV_FEED }));
});
afterEach(async () => {
  await fake.close();
});

function hf(options: ConstructorParameters<typeof HuggingFaceDailyPapersSource>[0] = {}) {
  return new HuggingFaceDailyPapersSource({ url: `${fake.url}/api/daily_papers`, ...options });
}
function arxiv(options: ConstructorParameters<typeof ArxivApiSource>[0] = {}) {
  return new ArxivApiSource({ url: `${fake.url}/api/query`, intervalMs: 0, ...options });
}

/** The `SourceFailure` a fetch rejects with (fails the test if it resolves or rejects otherwise). */
async function failureOf(promise: Promise<unknown>): Promise<SourceFailure> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a SourceFailure, got ${JSON.stringify(outcome.resolved)}`);
  expect(outcome.error).toBeInstanceOf(SourceFailure);
  return outcome.error as SourceFailure;
}

const byId = (records: PaperRecord[]) => new Map(records.map((record) => [record.sourceId, record]));

describe('Hugging Face daily papers', () => {
  it('asks once per UTC date from since to now, in order, with ?date=', async () => {
    await hf().fetch(FRIDAY_MORNING);
    expect(fake.requests.map((r) => [r.path, r.query['date']])).toEqual([
      ['/api/daily_papers', '2026-11-26'],
      ['/api/daily_papers', '2026-11-27'],
    ]);
    expect(fake.requests[0]?.headers['user-agent']).toMatch(/^paperbot\/0\.1 \(digest\)/);
  });

  it('asks for at most maxDays dates, the most recent ones', async () => {
    await hf({ maxDays: 3 }).fetch({ now: new Date('2026-11-27T07:00:00Z'), since: new Date('2026-11-10T07:00:00Z') });
    expect(fake.requests.map((r) => r.query['date'])).toEqual(['2026-11-25', '2026-11-26', '2026-11-27']);
    expect(listingDates(new Date('2026-11-26T23:59:00Z'), new Date('2026-11-27T00:01:00Z'), 7)).toEqual(['2026-11-26', '2026-11-27']);
  });

  it('maps papers: line breaks joined, upvotes and AI keywords kept, arXiv url', async () => {
    const records = byId(await hf().fetch({ now: new Date('2026-11-26T12:00:00Z'), since: new Date('2026-11-26T06:00:00Z') }));
    const paper = records.get('2611.01001');
    expect(paper).toBeDefined();
    expect(paper?.title).toBe('Learned Term Weights for Sparse Retrieval at Scale');
    expect(paper?.abstract).toBe(
      'Dense retrievers dominate recent benchmarks, yet sparse retrievers remain cheaper to serve and easier to inspect. ' +
        'We propose a term-weighting model that is trained with 12 negatives per query and indexed with an ordinary inverted index. ' +
        'On 18 BEIR datasets it closes most of the gap to dense retrieval while answering queries 4 times faster.',
    );
    expect(paper?.authors).toEqual(['Ana Ferreira', 'Jonas Weber', 'Mei Lin']);
    expect(paper?.url).toBe('https://arxiv.org/abs/2611.01001');
    expect(paper?.published).toBe('2026-11-24');
    expect(paper?.categories).toEqual([]);
    expect(paper?.metadata).toEqual({
      source: 'huggingface',
      listed: '2026-11-26',
      upvotes: 42,
      ai_keywords: ['sparse retrieval', 'term weighting', 'inverted index', 'BEIR'],
      ai_summary: 'A term-weighting model makes sparse retrieval nearly as good as dense retrieval, and faster.',
      githubRepo: 'https://github.com/example-lab/learned-term-weights',
      hf_url: 'https://huggingface.co/papers/2611.01001',
    });
    // A null githubRepo and a missing ai_keywords are simply absent.
    expect(records.get('2611.01004')?.metadata).toEqual({
      source: 'huggingface',
      listed: '2026-11-26',
      upvotes: 0,
      hf_url: 'https://huggingface.co/papers/2611.01004',
    });
  });

  it('keeps one record per paper, the one with most upvotes, and skips items without a summary', async () => {
    const records = await hf().fetch({ now: new Date('2026-11-26T12:00:00Z'), since: new Date('2026-11-26T06:00:00Z') });
    expect(records.map((r) => r.sourceId).sort()).toEqual(['2611.01001', '2611.01002', '2611.01004']);
    expect(byId(records).get('2611.01002')?.metadata['upvotes']).toBe(17);
  });

  it('dedupes across dates, keeping the listing with most upvotes', async () => {
    const records = byId(await hf().fetch(FRIDAY_MORNING));
    expect([...records.keys()].sort()).toEqual(['2611.01001', '2611.01002', '2611.01004', '2611.01005']);
    expect(records.get('2611.01001')?.metadata).toMatchObject({ upvotes: 50, listed: '2026-11-27' });
  });

  it('fails the whole fetch when one date fails', async () => {
    fake.route('/api/daily_papers', (request) =>
      request.query['date'] === '2026-11-27' ? { status: 500, body: 'oops' } : { body: HF_DAYS['2026-11-26'] ?? '' },
    );
    const failure = await failureOf(hf().fetch(FRIDAY_MORNING));
    expect(failure.source).toBe('Hugging Face daily papers');
    expect(failure.reason).toBe('HTTP 500');
    expect(failure.message).toBe('Hugging Face daily papers failed: HTTP 500');
    expect(failure.code).toBe('source_failed');
    expect(fake.requests).toHaveLength(2);
  });

  it('calls a truncated body malformed', async () => {
    const body = HF_DAYS['2026-11-26'] ?? '';
    fake.enqueue({ body, cutAt: Math.floor(body.length / 2) });
    const failure = await failureOf(hf().fetch(FRIDAY_MORNING));
    expect(failure.reason).toMatch(/^malformed response for 2026-11-26: not JSON/);
  });

  it('calls a JSON body that is not an array malformed', async () => {
    fake.enqueue({ body: '{"error":"Invalid date"}' });
    const failure = await failureOf(hf().fetch(FRIDAY_MORNING));
    expect(failure.reason).toBe('malformed response for 2026-11-26: expected a JSON array');
  });

  it('names a connection that breaks off mid-body', async () => {
    fake.enqueue({ body: HF_DAYS['2026-11-26'] ?? '', destroyAfter: 100 });
    const failure = await failureOf(hf().fetch(FRIDAY_MORNING));
    expect(failure.reason).toMatch(/^connection failed/);
  });
});

describe('arXiv API', () => {
  it('asks for the categories, newest submissions first', async () => {
    await arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES });
    expect(fake.requests).toHaveLength(1);
    const request = fake.requests[0];
    expect(request?.path).toBe('/api/query');
    expect(request?.query).toEqual({
      search_query: 'cat:cs.CL OR cat:cs.IR',
      sortBy: 'submittedDate',
      sortOrder: 'descending',
      start: '0',
      max_results: '100',
    });
    // Encoded, so arXiv reads `:` and the spaces as its query syntax and not as URL syntax.
    expect(request?.rawQuery).toContain('search_query=cat%3Acs.CL+OR+cat%3Acs.IR');
    expect(request?.headers['user-agent']).toMatch(/^paperbot\/0\.1 \(digest\)/);
  });

  it('maps entries: version kept in the id, versionless url, primary category first', async () => {
    const records = byId(await arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES }));
    const paper = records.get('2611.02001v2');
    expect(paper).toBeDefined();
    expect(paper?.title).toBe('Retrieval & Reasoning: Citing Abstracts Faithfully');
    expect(paper?.abstract).toBe(
      'Answer generators cite sources they never read. We constrain generation to abstracts retrieved for the question and check each citation against the cited abstract. Faithfulness rises from 61% to 88% on 3 benchmarks.',
    );
    expect(paper?.authors).toEqual(['Lena Hoffmann', 'Rahul Iyer', 'Chen Yu']);
    expect(paper?.url).toBe('https://arxiv.org/abs/2611.02001');
    expect(paper?.published).toBe('2026-11-26');
    expect(paper?.categories).toEqual(['cs.IR', 'cs.CL', 'cs.AI']);
    expect(paper?.metadata).toEqual({ source: 'arxiv', updated: '2026-11-26T18:05:00.000Z', primary_category: 'cs.IR' });
    // A single author and a single category still come as lists; a numeric title stays text.
    expect(records.get('2611.02002v1')).toMatchObject({ title: '1984', authors: ['Single Author'], categories: ['cs.CL'] });
  });

  it('keeps the highest version and only papers announced after since', async () => {
    const records = await arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES });
    // 2611.02001v1 loses to v2; 2611.01999 was announced Wednesday evening, before `since`;
    // 2409.11111v3 is an old paper with a new version. 2611.02002 was submitted before `since`
    // but after Wednesday's deadline, so Thursday evening's announcement is its first.
    expect(records.map((r) => r.sourceId)).toEqual(['2611.02001v2', '2611.02002v1']);
  });

  it('returns nothing without a request when no categories are asked for', async () => {
    expect(await arxiv().fetch({ ...FRIDAY_MORNING, categories: [] })).toEqual([]);
    expect(await arxiv().fetch(FRIDAY_MORNING)).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });

  it('asks nothing when arXiv announced nothing since the last fetch (Friday and Saturday)', async () => {
    const source = arxiv();
    // Friday 22:00 and Saturday 22:00 in New York: the last announcement was Thursday 20:00.
    const fridayEvening = { now: new Date('2026-11-28T03:00:00Z'), since: new Date('2026-11-27T03:00:00Z') };
    const saturdayEvening = { now: new Date('2026-11-29T03:00:00Z'), since: new Date('2026-11-28T03:00:00Z') };
    // Saturday and Sunday 08:00 in Berlin.
    const saturdayMorning = { now: new Date('2026-11-28T07:00:00Z'), since: new Date('2026-11-27T07:00:00Z') };
    const sundayMorning = { now: new Date('2026-11-29T07:00:00Z'), since: new Date('2026-11-28T07:00:00Z') };
    for (const window of [fridayEvening, saturdayEvening, saturdayMorning, sundayMorning]) {
      expect(await source.fetch({ ...window, categories: CATEGORIES })).toEqual([]);
    }
    expect(fake.requests).toHaveLength(0);
    // Sunday 20:00 New York is an announcement: Monday morning in Berlin asks.
    await source.fetch({ now: new Date('2026-11-30T07:00:00Z'), since: new Date('2026-11-29T07:00:00Z'), categories: CATEGORIES });
    expect(fake.requests).toHaveLength(1);
  });

  it('reads announcement windows in New York time', () => {
    expect(announcementWindow(FRIDAY_MORNING.since, FRIDAY_MORNING.now)).toEqual({
      announced: true,
      // Wednesday 14:00 EST, the deadline for Wednesday evening's announcement.
      submittedAfter: new Date('2026-11-25T19:00:00Z'),
    });
    // Sunday's announcement lists what arrived since Thursday's 14:00 deadline...
    expect(announcementWindow(new Date('2026-11-29T07:00:00Z'), new Date('2026-11-30T07:00:00Z')).submittedAfter).toEqual(new Date('2026-11-26T19:00:00Z'));
    // ...and Monday's what arrived since Friday's.
    expect(announcementWindow(new Date('2026-11-30T02:00:00Z'), new Date('2026-12-01T02:00:00Z')).submittedAfter).toEqual(new Date('2026-11-27T19:00:00Z'));
  });

  it('pages while the last entry is still new, up to maxPages', async () => {
    const newer = (n: number) => `<entry><id>http://arxiv.org/abs/2611.0300${n}v1</id><title>Newer ${n}</title><summary>S</summary><published>2026-11-26T17:0${n}:00Z</published><author><name>A</name></author></entry>`;
    const firstPage = `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">${newer(2)}${newer(1)}</feed>`;
    fake.route('/api/query', (request) => ({ body: request.query['start'] === '0' ? firstPage : ARXIV_FEED }));

    const records = await arxiv({ maxResults: 2 }).fetch({ ...FRIDAY_MORNING, categories: CATEGORIES });
    expect(fake.requests.map((r) => [r.query['start'], r.query['max_results']])).toEqual([['0', '2'], ['2', '2']]);
    expect(records.map((r) => r.sourceId)).toEqual(['2611.03002v1', '2611.03001v1', '2611.02001v2', '2611.02002v1']);

    fake.requests.length = 0;
    await arxiv({ maxResults: 2, maxPages: 1 }).fetch({ ...FRIDAY_MORNING, categories: CATEGORIES });
    expect(fake.requests).toHaveLength(1);
  });

  it('spaces its requests by intervalMs, across fetches and concurrent calls', async () => {
    const intervalMs = 300;
    const source = arxiv({ intervalMs });
    const request = { ...FRIDAY_MORNING, categories: CATEGORIES };
    await source.fetch(request);
    await source.fetch(request);
    await Promise.all([source.fetch(request), source.fetch(request)]);
    const times = fake.requests.map((r) => r.receivedAt);
    expect(times).toHaveLength(4);
    for (let i = 1; i < times.length; i++) {
      // A little slack: the fake stamps arrival, the source stamps departure.
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(intervalMs - 30);
    }
  });

  it("reports arXiv's error feed with arXiv's message", async () => {
    fake.enqueue({ body: fixture('arxiv-error.xml') });
    const failure = await failureOf(arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES }));
    expect(failure.source).toBe('arXiv');
    expect(failure.reason).toBe('API error: max_results must be less than or equal to 2000');
  });

  it('calls a truncated feed malformed', async () => {
    fake.enqueue({ body: ARXIV_FEED, cutAt: Math.floor(ARXIV_FEED.length * 0.6) });
    const failure = await failureOf(arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES }));
    expect(failure.message).toMatch(/^arXiv failed: malformed response: /);
  });

  it('calls a body that is not a feed malformed', async () => {
    fake.enqueue({ body: '<html><body>Service Unavailable</body></html>' });
    const failure = await failureOf(arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES }));
    expect(failure.reason).toBe('malformed response: not an Atom feed');
  });
});

describe('HTTP policy (both sources)', () => {
  it('waits out a 429 with Retry-After, then succeeds', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '1' }, body: 'slow down' });
    const started = Date.now();
    const records = await hf().fetch({ now: new Date('2026-11-26T12:00:00Z'), since: new Date('2026-11-26T06:00:00Z') });
    expect(records).toHaveLength(3);
    expect(fake.requests).toHaveLength(2);
    expect((fake.requests[1]?.receivedAt ?? 0) - (fake.requests[0]?.receivedAt ?? 0)).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('fails at once on a 429 asking for a wait beyond the bound', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '120' } });
    const started = Date.now();
    const failure = await failureOf(arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES }));
    expect(failure.reason).toBe('rate-limited (HTTP 429); retry after 120 s');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fake.requests).toHaveLength(1);
  });

  it('gives up on 429 after maxRetries', async () => {
    fake.enqueue(...Array.from({ length: 3 }, () => ({ status: 429, headers: { 'retry-after': '0' } })));
    const failure = await failureOf(hf({ maxRetries: 1 }).fetch(FRIDAY_MORNING));
    expect(failure.reason).toBe('rate-limited (HTTP 429); retry after 0 s');
    expect(fake.requests).toHaveLength(2);
  });

  it('reads Retry-After as seconds or a date, else RateLimit, else one second', () => {
    const now = Date.parse('2026-11-27T07:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Fri, 27 Nov 2026 07:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterMs(new Headers({ ratelimit: '"api";r=0;t=42' }), now)).toBe(42_000);
    expect(retryAfterMs(new Headers(), now)).toBe(1000);
  });

  it('names HTTP 500 without retrying', async () => {
    fake.enqueue({ status: 500, body: 'Internal error' });
    const failure = await failureOf(arxiv().fetch({ ...FRIDAY_MORNING, categories: CATEGORIES }));
    expect(failure.message).toBe('arXiv failed: HTTP 500');
    expect(fake.requests).toHaveLength(1);
  });

  it('times out when the server never answers', async () => {
    fake.enqueue({ hang: true });
    const started = Date.now();
    const failure = await failureOf(hf({ timeoutMs: 200 }).fetch(FRIDAY_MORNING));
    expect(failure.reason).toBe('timed out after 0.2 s');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('names a refused connection', async () => {
    const port = await closedPort();
    const failure = await failureOf(new HuggingFaceDailyPapersSource({ url: `http://127.0.0.1:${port}/api/daily_papers` }).fetch(FRIDAY_MORNING));
    expect(failure.reason).toBe('could not connect (ECONNREFUSED)');
    const arxivFailure = await failureOf(new ArxivApiSource({ url: `http://127.0.0.1:${port}/api/query`, intervalMs: 0 }).fetch({ ...FRIDAY_MORNING, categories: CATEGORIES }));
    expect(arxivFailure.message).toBe('arXiv failed: could not connect (ECONNREFUSED)');
  });

  it('uses the injected fetch and sends the user agent', async () => {
    const seen: string[] = [];
    const body = await fetchWithPolicy('http://paper.source.invalid/x', {
      timeoutMs: 1000,
      sourceLabel: 'Test',
      fetch: async (input, init) => {
        seen.push(String(input), new Headers(init?.headers).get('user-agent') ?? '');
        return new Response('hello');
      },
    });
    expect(body).toBe('hello');
    expect(seen).toEqual(['http://paper.source.invalid/x', 'paperbot/0.1 (digest)']);
  });
});
