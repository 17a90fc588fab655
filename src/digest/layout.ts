/**
 * A digest laid out, platform-neutral and pure: the header, the channel message's papers
 * (grouped when many), the thread's papers, the "N more" line and the footer notes. Chat
 * adapters render a `DigestLayout` within their own limits.
 */

import { safeHttpUrl } from '../chat-text.ts';
import type { DigestItem, DigestLayout, DigestTarget } from './model.ts';
import { groupPapers, shortenAuthors, type RankedPaper } from './selection.ts';

import type { Paper } from '../rag/types.ts';
export interface LayoutInput {
  target: Pick<DigestTarget, 'name' | 'timezone' | 'size' | 'threadMax'>;
  slot: string;
  /** The instant the digest is for (the slot's time, or now). */
  at: Date;
  ranked: readonly RankedPaper[];
  summaries: ReadonlyMap<number, string>;
  notes: readonly string[];
  catchUp?: { missedSlots: number; since: Date };
  /** How a reader lists the papers beyond the thread, e.g. "`paperbot digest --list --target lab` or /papers <words>". */
  moreHint: string;
}

/** `paperbot digest lab-slack 2026-11-27T07:00:00.000Z`: what a restarted process looks for in the channel. */
export function digestMarker(target: string, slot: string): string {
  return `paperbot digest ${target} ${slot}`;
}

/** `Fri 27 Nov 2026` in the target's zone. */
export function formatDay(at: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: timezone }).format(at).replace(/,/g, '');
}

/** `2026-11-27` in the target's zone. */
export function isoDay(at: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: timezone }).format(at);
}

export function toItem(ranked: RankedPaper, summaries: ReadonlyMap<number, string>): DigestItem {
  const { paper } = ranked;
  const item: DigestItem = {
    id: paper.id,
    title: paper.title.replace(/\s+/g, ' ').trim(),
    authors: shortenAuthors(paper.authors),
    summary: summaries.get(paper.rowId) ?? '',
    why: ranked.why,
  };
  const url = safeHttpUrl(paper.url ?? defaultUrl(paper));
  if (url) item.url = url;
  return item;
}

function defaultUrl(paper: Paper): string | undefined {
  return /^\d{4}\.\d{4,5}$/.test(paper.id) ? `https://arxiv.org/abs/${paper.id}` : undefined;
}

export function buildDigestLayout(input: LayoutInput): DigestLayout {
  const { target, ranked } = input;
  const shown = ranked.slice(0, target.size);
  const threaded = ranked.slice(target.size, target.size + target.threadMax);
  const beyond = ranked.length - shown.length - threaded.length;
  const day = formatDay(input.at, target.timezone);
  const count = `${ranked.length} new paper${ranked.length === 1 ? '' : 's'}`;
  const header = input.catchUp
    ? `While I was away: ${ranked.length ? count : 'no new papers'} since ${formatDay(input.catchUp.since, target.timezone)} (${input.catchUp.missedSlots} scheduled digests in one)`
    : ranked.length
      ? `Paper digest for ${day}: ${count}`
      : `Paper digest for ${day}: no new papers`;
  const sections = groupPapers(shown).map((group) => ({
    ...(group.heading ? { heading: group.heading } : {}),
    items: group.items.map((r) => toItem(r, input.summaries)),
  }));
  const layout: DigestLayout = {
    target: target.name,
    slot: input.slot,
    marker: digestMarker(target.name, input.slot),
    header,
    date: isoDay(input.at, target.timezone),
    newCount: ranked.length,
    sections: ranked.length ? sections : [],
    thread: threaded.map((r) => toItem(r, input.summaries)),
    more: beyond > 0 ? { count: beyond, hint: `…and ${beyond} more new paper${beyond === 1 ? '' : 's'} not listed here. ${input.moreHint}` } : null,
    notes: [...input.notes],
    empty: ranked.length === 0,
  };
  if (input.catchUp) layout.catchUp = { missedSlots: input.catchUp.missedSlots, since: input.catchUp.since.toISOString() };
  return layout;
}

/** A digest as plain text, for the CLI's `digest --dry-run` and logs. */
export function digestAsText(layout: DigestLayout): string {
  const lines = [layout.header, ''];
  const item = (i: DigestItem) => {
    lines.push(`• ${i.title}${i.url ? ` <${i.url}>` : ''}`);
    if (i.authors) lines.push(`  ${i.authors}`);
    if (i.summary) lines.push(`  ${i.summary}`);
    lines.push(`  why: ${i.why}   (id ${i.id})`);
  };
  if (layout.empty) lines.push('No new papers since the last digest.');
  for (const section of layout.sections) {
    if (section.heading) lines.push(`## ${section.heading}`);
    section.items.forEach(item);
  }
  if (layout.thread.length) {
    lines.push('', `-- in the thread (${layout.thread.length}) --`);
    layout.thread.forEach(item);
  }
  if (layout.more) lines.push('', layout.more.hint);
  for (const note of layout.notes) lines.push('', `⚠ ${note}`);
  lines.push('', layout.marker);
  return lines.join('\n');
}

