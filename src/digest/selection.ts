/**
 * Which new papers lead a digest, and why: pure functions over stored papers. The order is the
 * source's own signal when there is one (Hugging Face upvotes), then relevance to the target's
 * topics, then recency. Each picked paper carries the reason in words, and papers can be grouped
 * under a few topic headings.
 */

import type { DigestTarget } from './model.ts';
import { documentTerms } from '../rag/text.ts';

import type { Paper } from '../rag/types.ts';
export interface RankedPaper {
  paper: Paper;
  upvotes: number | null;
  /** Target topics the paper matches, best first. */
  topics: string[];
  /** Matched topics weighted by where they matched (title counts double). */
  topicScore: number;
  why: string;
  /** A heading to group it under: a matched topic, else its arXiv category; null when none. */
  group: string | null;
}

/**
 * Whether a paper came through one of the target's sources. Papers added with `paperbot ingest`
 * count as inbox papers (both are files someone chose); arXiv papers count only in the target's
 * categories, so a cs.CV fetch for one team does not reach another team's cs.CL channel.
 */
export function fromTargetSources(target: Pick<DigestTarget, 'sources' | 'arxivCategories'>, paper: Pick<Paper, 'categories'>, origins: readonly string[]): boolean {
  return (origins.length ? origins : ['cli']).some((origin) => {
    if (origin === 'inbox' || origin === 'cli') return target.sources.includes('inbox');
    if (origin === 'huggingface') return target.sources.includes('huggingface');
    if (origin === 'arxiv') return target.sources.includes('arxiv') && paper.categories.some((c) => target.arxivCategories.includes(c));
    return false;
  });
}

function upvotesOf(paper: Paper): number | null {
  const value = paper.metadata['upvotes'];
  // Zero upvotes is no signal: it must not rank a paper above a topic match from another source.
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

/** A topic matches when all its (stemmed) words occur in the title or abstract. */
export function matchTopics(paper: Pick<Paper, 'title' | 'abstract'>, topics: readonly string[]): { topics: string[]; score: number } {
  const titleTerms = new Set(documentTerms(paper.title));
  const abstractTerms = new Set(documentTerms(paper.abstract));
  const matched: { topic: string; weight: number }[] = [];
  for (const topic of topics) {
    const terms = documentTerms(topic);
    if (!terms.length) continue;
    const inTitle = terms.every((t) => titleTerms.has(t));
    const anywhere = terms.every((t) => titleTerms.has(t) || abstractTerms.has(t));
    if (anywhere) matched.push({ topic, weight: inTitle ? 2 : 1 });
  }
  matched.sort((a, b) => b.weight - a.weight);
  return { topics: matched.map((m) => m.topic), score: matched.reduce((sum, m) => sum + m.weight, 0) };
}

/**
 * When the paper was published, as a time, or null when its date is missing or has no year
 * (a papers-page listing says "Mar 14"): such papers rank after dated ones, newest arrival first.
 */
function publishedAt(paper: Paper): number | null {
  const raw = paper.published ?? (typeof paper.metadata['listed'] === 'string' ? paper.metadata['listed'] : undefined);
  if (!raw || !/\d{4}/.test(raw)) return null;
  const time = Date.parse(raw);
  return Number.isNaN(time) ? null : time;
}

function publishedDay(paper: Paper): string | null {
  const time = publishedAt(paper);
  return time === null ? null : new Date(time).toISOString().slice(0, 10);
}

function sourceOf(paper: Paper): string {
  const source = paper.metadata['source'];
  return typeof source === 'string' ? source : '';
}

function describeWhy(paper: Paper, upvotes: number | null, topics: readonly string[], rankedBy: 'upvotes' | 'topics' | 'newest'): string {
  const reasons: string[] = [];
  if (upvotes !== null && upvotes > 0) reasons.push(`${upvotes} upvote${upvotes === 1 ? '' : 's'} on Hugging Face`);
  if (topics.length) reasons.push(`matches your topic${topics.length > 1 ? 's' : ''} ${topics.slice(0, 2).map((t) => `"${t}"`).join(' and ')}`);
  if (!reasons.length) {
    const category = sourceOf(paper) === 'arxiv' ? paper.categories[0] : undefined;
    const published = publishedDay(paper);
    if (category) reasons.push(`new in arXiv ${category}`);
    else if (published) reasons.push(rankedBy === 'newest' ? `newest (published ${published})` : `new (published ${published})`);
    else reasons.push('newly added');
  }
  return reasons.join('; ');
}

/** Orders a target's new papers for its digest. */
export function rankPapers(papers: readonly Paper[], topics: readonly string[]): RankedPaper[] {
  const anyUpvotes = papers.some((p) => upvotesOf(p) !== null);
  const rankedBy = anyUpvotes ? 'upvotes' : topics.length ? 'topics' : 'newest';
  const ranked = papers.map((paper): RankedPaper => {
    const upvotes = upvotesOf(paper);
    const match = matchTopics(paper, topics);
    const category = paper.categories[0];
    return {
      paper,
      upvotes,
      topics: match.topics,
      topicScore: match.score,
      why: describeWhy(paper, upvotes, match.topics, rankedBy),
      group: match.topics[0] ?? (category ? category : null),
    };
  });
  return ranked.sort(
    (a, b) =>
      (b.upvotes ?? -1) - (a.upvotes ?? -1) ||
      b.topicScore - a.topicScore ||
      (publishedAt(b.paper) ?? -Infinity) - (publishedAt(a.paper) ?? -Infinity) ||
      b.paper.rowId - a.paper.rowId,
  );
}

export const MAX_HEADINGS = 4;
/** Fewer papers than this read fine as one list. */
export const GROUP_FROM = 6;

/**
 * Groups the channel message's papers under at most `MAX_HEADINGS` headings (the largest
 * groups), keeping rank order inside each and ordering groups by their best paper; the rest go
 * under "Other papers". Returns one unheaded group when grouping would not help.
 */
export function groupPapers<T extends { group: string | null }>(items: readonly T[]): { heading?: string; items: T[] }[] {
  if (items.length < GROUP_FROM) return [{ items: [...items] }];
  const sizes = new Map<string, number>();
  for (const item of items) if (item.group) sizes.set(item.group, (sizes.get(item.group) ?? 0) + 1);
  const headings = [...sizes.entries()]
    .filter(([, size]) => size >= 2)
    .sort((a, b) => b[1] - a[1])
    .slice(0, MAX_HEADINGS)
    .map(([heading]) => heading);
  if (headings.length < 2) return [{ items: [...items] }];
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = item.group && headings.includes(item.group) ? item.group : 'Other papers';
    const list = groups.get(key) ?? [];
    list.push(item);
    groups.set(key, list);
  }
  return [...groups.entries()].map(([heading, list]) => ({ heading, items: list }));
}

/** `Ada Lovelace, Alan Turing et al.`: at most two names, then "et al.". */
export function shortenAuthors(authors: readonly string[]): string {
  const names = authors.map((a) => a.replace(/\s+/g, ' ').trim()).filter(Boolean);
  if (names.length <= 2) return names.join(' and ');
  return `${names.slice(0, 2).join(', ')} et al.`;
}
