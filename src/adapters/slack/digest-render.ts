/**
 * Renders a platform-neutral `DigestLayout` as Slack Block Kit messages: the channel message
 * (header, the top papers, source failures, the marker) and the thread replies under it (papers
 * that did not fit, the thread papers, the "how many more" line).
 *
 * Slack rejects a whole message that breaks a limit, so every limit is kept here, before anything
 * is sent: at most 50 blocks a message, 3000 characters a section, under 11,000 characters of
 * block text a message (Slack fails somewhere above 12,000), and a short `text` fallback. A paper
 * is one section block, so it is never split between messages; papers that do not fit the channel
 * message move, in order, to the thread. Only a single over-long field is shortened, with "…".
 *
 * All text (titles, authors, summaries, headings, notes, even the marker) goes through
 * `escapeSlackText`, so no `<!channel>`, `@here`, `<@U…>` or `<!subteam^…>` from an abstract can
 * ping anyone. Pure: tested without a client.
 */
import type { DigestItem, DigestLayout } from '../../digest/model.ts';
import { safeHttpUrl, truncate } from '../../chat-text.ts';
import { SLACK_LIMITS, blockTextLength, escapeSlackText, escapedLine, groupBlocks, slackLink, type ContextBlock, type MrkdwnText, type SectionBlock, type SlackBlock, type SlackMessage } from './render.ts';

/** The channel message and the replies for its thread, in posting order. */
export interface SlackDigest {
  main: SlackMessage;
  thread: SlackMessage[];
}

/** Per-field budgets (escaped characters), chosen so one paper always fits one 3000-character section. */
export const SLACK_DIGEST_LIMITS = {
  /** Slack truncates the notification `text` beyond 4000; ours stays far below. */
  fallbackText: 4000,
  header: 1000,
  heading: 300,
  /** A title is cut here (before escaping), so one huge title cannot crowd its summary out. */
  titleChars: 300,
  /** A longer `<url|title>` is shown as the title alone. */
  titleLine: 1700,
  url: 1000,
  authors: 300,
  why: 300,
  id: 100,
  summary: 1500,
  note: 400,
  notes: SLACK_LIMITS.sectionText,
} as const;

const MORE_PAPERS = '*More new papers*';
const OTHER_PAPERS = '*Other new papers*';
const NO_NEW_PAPERS = 'No new papers since the last digest.';

// ---------------------------------------------------------------------------------------------
// Text

function mrkdwn(text: string): MrkdwnText {
  return { type: 'mrkdwn', text, verbatim: true };
}

function section(text: string): SectionBlock {
  return { type: 'section', text: mrkdwn(text) };
}

function context(text: string): ContextBlock {
  return { type: 'context', elements: [mrkdwn(text)] };
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// Papers

/** `*<url|title>*`, or the bold title alone when the URL is unsafe or makes the line too long. */
function titleLine(item: DigestItem): string {
  const title = truncate(item.title.replace(/\s+/g, ' ').trim() || 'Untitled', SLACK_DIGEST_LIMITS.titleChars);
  const url = safeHttpUrl(item.url);
  const linked = url !== undefined && url.length <= SLACK_DIGEST_LIMITS.url ? slackLink(url, title) : '';
  if (linked && linked.length <= SLACK_DIGEST_LIMITS.titleLine) return `*${linked}*`;
  return `*${escapedLine(title, SLACK_DIGEST_LIMITS.titleLine)}*`;
}

/**
 * One paper, one section: linked title, authors, the one-line summary, and why it was picked with
 * its id (for `/paper ID`). The summary gets what the other lines leave of the 3000 characters.
 */
function paperBlock(item: DigestItem): SectionBlock {
  const head = [titleLine(item)];
  if (item.authors.trim()) head.push(escapedLine(item.authors, SLACK_DIGEST_LIMITS.authors));
  const id = escapedLine(item.id.replace(/`/g, ''), SLACK_DIGEST_LIMITS.id);
  const why = item.why.trim() ? `_${escapedLine(item.why, SLACK_DIGEST_LIMITS.why)}_ · \`${id}\`` : `\`${id}\``;
  const used = head.reduce((sum, line) => sum + line.length + 1, 0) + why.length + 1;
  const summary = item.summary.trim() ? escapedLine(item.summary, Math.min(SLACK_DIGEST_LIMITS.summary, SLACK_LIMITS.sectionText - used)) : '';
  return section([...head, ...(summary ? [summary] : []), why].join('\n'));
}

function headingBlock(heading: string): SectionBlock {
  return section(`*${escapedLine(heading, SLACK_DIGEST_LIMITS.heading)}*`);
}

// ---------------------------------------------------------------------------------------------
// The channel message's fixed parts

/** True when a catch-up digest's header does not say so itself (the layout's usually does). */
function needsAwayMark(layout: DigestLayout): boolean {
  return layout.catchUp !== undefined && !/while I was away/i.test(layout.header);
}

function headerBlock(layout: DigestLayout): SectionBlock {
  const lines = [`*${escapedLine(layout.header, SLACK_DIGEST_LIMITS.header)}*`];
  if (layout.catchUp && needsAwayMark(layout)) {
    const { missedSlots, since } = layout.catchUp;
    // `since` is an ISO instant; its day is what a reader needs.
    const day = /^\d{4}-\d{2}-\d{2}/.exec(since)?.[0] ?? since;
    lines.push(`_${escapedLine(`While I was away: this digest stands for ${plural(missedSlots, 'missed digest')} since ${day}.`, SLACK_DIGEST_LIMITS.header)}_`);
  }
  return section(lines.join('\n'));
}

/** The "how many more" line: the layout's hint, with the count in front unless the hint says it. */
function moreLine(more: { count: number; hint: string }): string {
  const hint = more.hint.trim();
  return new RegExp(`\\b${more.count}\\b`).test(hint) ? hint : `${plural(more.count, 'more new paper')}: ${hint}`;
}

/**
 * Source failures and notices, in one section so they are seen (a context block is easy to miss).
 * Only so many fit; the rest are counted, and the log has them all.
 */
function notesBlock(notes: readonly string[]): SectionBlock | undefined {
  const lines = notes.map((note) => note.trim()).filter(Boolean);
  if (!lines.length) return undefined;
  const shown: string[] = [];
  const reserve = 80;
  for (const [i, note] of lines.entries()) {
    const line = `:warning: ${escapedLine(note, SLACK_DIGEST_LIMITS.note)}`;
    const length = shown.reduce((sum, l) => sum + l.length + 1, 0) + line.length;
    if (length > SLACK_DIGEST_LIMITS.notes - reserve) {
      shown.push(`:warning: …and ${plural(lines.length - i, 'more problem')}: see paperbot's log.`);
      break;
    }
    shown.push(line);
  }
  return section(shown.join('\n'));
}

/** The marker, alone in one context element, so a later history read finds it as written. */
function markerBlock(marker: string): ContextBlock {
  return context(escapeSlackText(marker));
}

function threadNote(papers: number): ContextBlock {
  return context(papers > 0 ? `_${plural(papers, 'more paper')} in the thread._` : '_More in the thread._');
}

// ---------------------------------------------------------------------------------------------
// Rendering

interface Unit {
  heading?: string;
  item: DigestItem;
}

/**
 * The digest as Slack messages: `main` for the channel (header, papers, notes, marker) and
 * `thread` for the replies under it, each within Slack's limits. Papers of `layout.sections` that
 * do not fit `main` come first in the thread (under their headings), then `layout.thread`, then
 * the "how many more" line. An empty layout gives a short "no new papers" body, still with notes
 * and marker.
 */
export function renderSlackDigest(layout: DigestLayout): SlackDigest {
  const header = headerBlock(layout);
  const notes = notesBlock(layout.notes);
  const tail: SlackBlock[] = [...(notes ? [notes] : []), markerBlock(layout.marker)];
  const units: Unit[] = layout.sections.flatMap((s) => s.items.map((item) => (s.heading?.trim() ? { heading: s.heading.trim(), item } : { item })));

  // Fill the channel message in order; from the first paper that does not fit, the rest go to the thread.
  const reserved = blockTextLength(threadNote(999_999));
  const maxBlocks = SLACK_LIMITS.blocksPerMessage - 1 - tail.length;
  const maxText = SLACK_LIMITS.blockTextPerMessage - reserved - tail.reduce((sum, b) => sum + blockTextLength(b), 0);
  const body: SlackBlock[] = [header];
  let length = blockTextLength(header);
  let heading: string | undefined;
  let placed = 0;
  for (const unit of units) {
    const blocks: SlackBlock[] = unit.heading !== undefined && unit.heading !== heading ? [headingBlock(unit.heading), paperBlock(unit.item)] : [paperBlock(unit.item)];
    const size = blocks.reduce((sum, b) => sum + blockTextLength(b), 0);
    if (body.length + blocks.length > maxBlocks || length + size > maxText) break;
    body.push(...blocks);
    length += size;
    heading = unit.heading;
    placed += 1;
  }
  if (layout.empty && units.length === 0) body.push(section(NO_NEW_PAPERS));

  const overflow = units.slice(placed);
  const threadBlocks = threadContent(layout, overflow);
  const threadPapers = overflow.length + layout.thread.length;
  const mainBlocks = [...body, ...(threadBlocks.length ? [threadNote(threadPapers)] : []), ...tail];
  const fallback = escapedLine(needsAwayMark(layout) ? `While I was away: ${layout.header}` : layout.header, SLACK_DIGEST_LIMITS.fallbackText) || 'Paper digest';
  const thread = pack(threadBlocks).map((blocks, i, all) => ({
    text: escapedLine(`More papers from the digest${all.length > 1 ? ` (${i + 1}/${all.length})` : ''}: ${layout.header}`, SLACK_DIGEST_LIMITS.fallbackText),
    blocks,
  }));
  return { main: { text: fallback, blocks: mainBlocks }, thread };
}

function threadContent(layout: DigestLayout, overflow: readonly Unit[]): SlackBlock[] {
  const blocks: SlackBlock[] = [];
  if (overflow.length || layout.thread.length) blocks.push(section(MORE_PAPERS));
  let heading: string | undefined;
  for (const unit of overflow) {
    if (unit.heading !== undefined && unit.heading !== heading) blocks.push(headingBlock(unit.heading));
    heading = unit.heading;
    blocks.push(paperBlock(unit.item));
  }
  if (layout.thread.length) {
    // Without a heading of their own, the thread papers would read as part of the last topic.
    if (overflow.some((unit) => unit.heading !== undefined)) blocks.push(section(OTHER_PAPERS));
    blocks.push(...layout.thread.map(paperBlock));
  }
  if (layout.more && layout.more.count > 0) {
    blocks.push(section(escapedLine(moreLine(layout.more), SLACK_LIMITS.sectionText)));
  }
  return blocks;
}

/** Blocks, in order, into as few messages as the limits allow (50 blocks, 11,000 characters each). */
function pack(blocks: readonly SlackBlock[]): SlackBlock[][] {
  return groupBlocks(blocks, SLACK_LIMITS.blocksPerMessage, SLACK_LIMITS.blockTextPerMessage);
}
