/**
 * The digest's pure parts: ranking and reasons, grouping, author shortening, the layout's
 * split between channel, thread and "more", summary checking and the extractive fallback. The
 * model summarizer against the fake Ollama is in model-summarizer.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { startOfDay } from '../src/adapters/cli/digest-command.ts';
import { buildDigestLayout, digestAsText, digestMarker, formatDay, isoDay } from '../src/digest/layout.ts';
import { fromTargetSources, groupPapers, matchTopics, rankPapers, shortenAuthors } from '../src/digest/selection.ts';
import { checkSummary, informativeSentence, numbersIn, summarisePapers, type PaperSummarizer } from '../src/digest/summaries.ts';

import type { Paper } from '../src/rag/types.ts';
let rowId = 0;
function paper(overrides: Partial<Paper> = {}): Paper {
  rowId += 1;
  return {
    rowId,
    id: `2611.${String(10000 + rowId)}`,
    title: `Paper ${rowId}`,
    abstract: `We study problem ${rowId}. Our method improves accuracy by 3.5 points on 12 benchmarks.`,
    authors: ['Ada Lovelace', 'Alan Turing', 'Grace Hopper'],
    categories: [],
    metadata: {},
    source: 'test',
    ...overrides,
  };
}

const memoryCache = () => {
  const saved = new Map<string, string>();
  return {
    saved,
    summary: (r: number, h: string, w: string) => saved.get(`${r}/${h}/${w}`),
    saveSummary: (r: number, h: string, w: string, s: string) => void saved.set(`${r}/${h}/${w}`, s),
  };
};

describe('rankPapers', () => {
  it('puts upvotes first when the source gives them, and says so', () => {
    const low = paper({ metadata: { upvotes: 3, source: 'huggingface' } });
    const high = paper({ metadata: { upvotes: 120, source: 'huggingface' } });
    const none = paper();
    const ranked = rankPapers([low, none, high], []);
    expect(ranked.map((r) => r.paper.rowId)).toEqual([high.rowId, low.rowId, none.rowId]);
    expect(ranked[0]!.why).toBe('120 upvotes on Hugging Face');
  });

  it('ranks by topic relevance without upvotes, title matches above abstract matches', () => {
    const inAbstract = paper({ title: 'A study', abstract: 'We look at dense retrieval for long documents.' });
    const inTitle = paper({ title: 'Dense retrieval at scale', abstract: 'Something else entirely here.' });
    const off = paper({ title: 'Protein folding', abstract: 'Nothing about the topic.' });
    const ranked = rankPapers([off, inAbstract, inTitle], ['dense retrieval']);
    expect(ranked.map((r) => r.paper.rowId)).toEqual([inTitle.rowId, inAbstract.rowId, off.rowId]);
    expect(ranked[0]!.why).toBe('matches your topic "dense retrieval"');
    expect(ranked[2]!.topics).toEqual([]);
  });

  it('falls back to newest first', () => {
    const older = paper({ published: '2026-11-20' });
    const newer = paper({ published: '2026-11-26' });
    const ranked = rankPapers([older, newer], []);
    expect(ranked.map((r) => r.paper.rowId)).toEqual([newer.rowId, older.rowId]);
    expect(ranked[0]!.why).toContain('2026-11-26');
  });

  it('matches stemmed topic words and needs all of them', () => {
    expect(matchTopics({ title: 'Unlearning', abstract: 'Machine unlearned models.' }, ['machine unlearning']).topics).toEqual(['machine unlearning']);
    expect(matchTopics({ title: 'Retrieval', abstract: 'sparse methods' }, ['dense retrieval']).topics).toEqual([]);
  });
});

describe('groupPapers and shortenAuthors', () => {
  it('keeps a short list ungrouped', () => {
    const items = [{ group: 'a' }, { group: 'b' }];
    expect(groupPapers(items)).toEqual([{ items }]);
  });

  it('groups many papers under at most four headings, the rest under "Other papers"', () => {
    const items = ['a', 'a', 'b', 'b', 'c', 'c', 'd', 'd', 'e', 'e', null, 'f'].map((group, i) => ({ group, i }));
    const groups = groupPapers(items);
    const headings = groups.map((g) => g.heading);
    expect(headings.filter((h) => h !== 'Other papers')).toHaveLength(4);
    expect(headings).toContain('Other papers');
    expect(groups.flatMap((g) => g.items).sort((x, y) => x.i - y.i)).toEqual(items);
  });

  it('shortens author lists', () => {
    expect(shortenAuthors(['A B'])).toBe('A B');
    expect(shortenAuthors(['A B', 'C D'])).toBe('A B and C D');
    expect(shortenAuthors(['A B', 'C D', 'E F'])).toBe('A B, C D et al.');
    expect(shortenAuthors([])).toBe('');
  });
});

describe('buildDigestLayout', () => {
  const target = { name: 'lab', timezone: 'Europe/Berlin', size: 3, threadMax: 4 };
  const at = new Date('2026-11-27T07:00:00.000Z');

  it('splits papers between the channel message, the thread and "more", in rank order', () => {
    const papers = Array.from({ length: 10 }, () => paper());
    const ranked = rankPapers(papers, []);
    const layout = buildDigestLayout({ target, slot: at.toISOString(), at, ranked, summaries: new Map(), notes: ['HF failed'], moreHint: 'List them with X.' });
    expect(layout.sections.flatMap((s) => s.items)).toHaveLength(3);
    expect(layout.thread).toHaveLength(4);
    expect(layout.more?.count).toBe(3);
    expect(layout.more?.hint).toContain('3 more');
    expect(layout.more?.hint).toContain('List them with X.');
    expect(layout.newCount).toBe(10);
    expect(layout.header).toBe('Paper digest for Fri 27 Nov 2026: 10 new papers');
    expect(layout.marker).toBe(digestMarker('lab', at.toISOString()));
    expect(layout.notes).toEqual(['HF failed']);
    const shownIds = [...layout.sections.flatMap((s) => s.items), ...layout.thread].map((i) => i.id);
    expect(shownIds).toEqual(ranked.slice(0, 7).map((r) => r.paper.id));
    expect(layout.sections[0]!.items[0]!.url).toBe(`https://arxiv.org/abs/${ranked[0]!.paper.id}`);
  });

  it('says when nothing is new, and marks a catch-up', () => {
    const empty = buildDigestLayout({ target, slot: 's', at, ranked: [], summaries: new Map(), notes: [], moreHint: '' });
    expect(empty.empty).toBe(true);
    expect(empty.header).toContain('no new papers');
    expect(empty.more).toBeNull();
    expect(digestAsText(empty)).toContain('No new papers');
    const catchUp = buildDigestLayout({ target, slot: 's', at, ranked: rankPapers([paper()], []), summaries: new Map(), notes: [], moreHint: '', catchUp: { missedSlots: 3, since: new Date('2026-11-24T07:00:00Z') } });
    expect(catchUp.header).toBe('While I was away: 1 new paper since Tue 24 Nov 2026 (3 scheduled digests in one)');
    expect(catchUp.catchUp).toEqual({ missedSlots: 3, since: '2026-11-24T07:00:00.000Z' });
  });

  it('dates the digest in the target zone', () => {
    const lateUtc = new Date('2026-11-27T23:30:00Z');
    expect(isoDay(lateUtc, 'Europe/Berlin')).toBe('2026-11-28');
    expect(isoDay(lateUtc, 'America/New_York')).toBe('2026-11-27');
    expect(formatDay(lateUtc, 'Europe/Berlin')).toBe('Sat 28 Nov 2026');
  });

  it('never links anything but http(s)', () => {
    const ranked = rankPapers([paper({ id: 't-abc', url: 'javascript:alert(1)' })], []);
    const layout = buildDigestLayout({ target, slot: 's', at, ranked, summaries: new Map(), notes: [], moreHint: '' });
    expect(layout.sections[0]!.items[0]!.url).toBeUndefined();
  });
});

describe('summaries', () => {
  const abstract = 'We present Xformer. On 12 benchmarks it improves F1 by 3.5 points over 1,000 baselines. Code is public.';

  it('finds numbers and ignores thousands separators', () => {
    expect(numbersIn('3.5 points, 1,000 runs, 12 sets')).toEqual(['3.5', '1000', '12']);
  });

  it('accepts a summary whose numbers are all in the abstract', () => {
    expect(checkSummary('X improves F1 by 3.5 points on 12 benchmarks.', abstract)).toEqual({ ok: true, text: 'X improves F1 by 3.5 points on 12 benchmarks.' });
    expect(checkSummary('Summary: "X beats 1000 baselines."', abstract)).toEqual({ ok: true, text: 'X beats 1000 baselines.' });
  });

  it('rejects invented numbers, lists, empty and over-long text', () => {
    expect(checkSummary('X improves F1 by 4 points.', abstract)).toEqual({ ok: false, reason: 'numbers not in the abstract: 4' });
    expect(checkSummary('- one\n- two', abstract).ok).toBe(false);
    expect(checkSummary('   ', abstract).ok).toBe(false);
    expect(checkSummary('word '.repeat(100), abstract).ok).toBe(false);
  });

  it('picks the most informative sentence, not the generic opener', () => {
    const idf = (term: string) => (['we', 'present'].includes(term) ? 0.1 : 2);
    expect(informativeSentence(abstract, idf)).toBe('On 12 benchmarks it improves F1 by 3.5 points over 1,000 baselines.');
  });

  it('uses checked model summaries, falls back per paper, caches, and stops asking after a failure', async () => {
    const replies = ['Good summary with 12 benchmarks.', 'Bad summary with 99 benchmarks.'];
    let calls = 0;
    const summarizer: PaperSummarizer = {
      id: 'test-model',
      summarize: async () => {
        const reply = replies[calls++];
        if (reply === undefined) throw new Error('model went away');
        return reply;
      },
    };
    const papers = [1, 2, 3, 4].map((n) => ({ rowId: n, title: `P${n}`, abstract }));
    const cache = memoryCache();
    const idf = () => 1;
    const result = await summarisePapers(papers, { summarizer, cache, idf, useModel: true });
    expect(result.summaries.get(1)).toBe('Good summary with 12 benchmarks.');
    expect(result.summaries.get(2)).not.toContain('99');
    expect(result.summaries.get(3)).toBe(informativeSentence(abstract, idf));
    expect(calls).toBe(3); // the failure on paper 3 stops it asking for paper 4
    expect(result.notes).toHaveLength(1);
    expect(cache.saved.size).toBe(1);
    const again = await summarisePapers(papers.slice(0, 1), { summarizer, cache, idf, useModel: true });
    expect(again.summaries.get(1)).toBe('Good summary with 12 benchmarks.');
    expect(calls).toBe(3);
  });
});

describe('startOfDay', () => {
  it('is midnight in the target zone', () => {
    expect(startOfDay('2026-11-27', 'Europe/Berlin').toISOString()).toBe('2026-11-26T23:00:00.000Z');
    expect(startOfDay('2026-07-01', 'America/New_York').toISOString()).toBe('2026-07-01T04:00:00.000Z');
    expect(startOfDay('2026-11-27', 'UTC').toISOString()).toBe('2026-11-27T00:00:00.000Z');
  });

  it('rejects what is not a date', () => {
    expect(() => startOfDay('2026-13-45', 'UTC')).toThrow(/YYYY-MM-DD/);
    expect(() => startOfDay('yesterday', 'UTC')).toThrow(/YYYY-MM-DD/);
  });
});

describe('summary time budget', () => {
  it('stops asking a slow model once the budget is spent, and says so', async () => {
    let calls = 0;
    const summarizer: PaperSummarizer = {
      id: 'slow-model',
      summarize: async () => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 30));
        return 'A fine summary.';
      },
    };
    const papers = [1, 2, 3, 4, 5].map((n) => ({ rowId: n, title: `P${n}`, abstract: 'We do a thing. It works well on many tasks.' }));
    const result = await summarisePapers(papers, { summarizer, cache: memoryCache(), idf: () => 1, useModel: true, budgetMs: 50 });
    expect(calls).toBeLessThan(5);
    expect(calls).toBeGreaterThan(0);
    expect(result.summaries.get(1)).toBe('A fine summary.');
    expect(result.summaries.get(5)).not.toBe('A fine summary.');
    expect(result.notes.join(' ')).toContain('too slow');
  });
});

describe('fromTargetSources', () => {
  const target = { sources: ['inbox', 'arxiv'] as ('inbox' | 'huggingface' | 'arxiv')[], arxivCategories: ['cs.CL'] };

  it('takes files (inbox or paperbot ingest), and arXiv papers only in the target categories', () => {
    expect(fromTargetSources(target, { categories: [] }, ['inbox'])).toBe(true);
    expect(fromTargetSources(target, { categories: [] }, ['cli'])).toBe(true);
    expect(fromTargetSources(target, { categories: ['cs.CL', 'cs.AI'] }, ['arxiv'])).toBe(true);
    expect(fromTargetSources(target, { categories: ['cs.CV'] }, ['arxiv'])).toBe(false);
    expect(fromTargetSources(target, { categories: [] }, ['huggingface'])).toBe(false);
    expect(fromTargetSources(target, { categories: [] }, ['seed'])).toBe(false);
  });

  it('takes a paper that came through any listed source', () => {
    expect(fromTargetSources({ sources: ['huggingface'], arxivCategories: [] }, { categories: ['cs.CL'] }, ['arxiv', 'huggingface'])).toBe(true);
    expect(fromTargetSources({ sources: ['huggingface'], arxivCategories: [] }, { categories: [] }, ['inbox'])).toBe(false);
  });
});
