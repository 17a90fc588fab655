/**
 * Turns an `Answer` into Slack Block Kit messages. Slack rejects a whole message whose blocks
 * break a limit (more than 50 blocks, a section over 3000 characters, block text over roughly
 * 12,000 characters: `msg_blocks_too_long`), so every limit is enforced here, before anything
 * is sent; what does not fit in the first message overflows into further messages, meant for
 * the thread under it.
 *
 * Text from a model, an abstract or a notice has its mentions neutralised (the core's
 * `neutraliseMentions`) and then `&`, `<`, `>` escaped, so no `<!channel>`, `<!here>`,
 * `<@U…>` or `<!subteam^…>` can survive, and every mrkdwn text object is `verbatim` so Slack
 * does not parse mentions or names out of plain words either.
 *
 * Pure and free of @slack/bolt on purpose: the blocks are plain objects shaped like Slack's API
 * JSON, so these rules are tested without a client. Lengths are counted in UTF-16 code units.
 */
import { ELLIPSIS, MAX_ANSWER_MESSAGES, NO_ANSWER, SEE_THE_SOURCES, answerBody, neutraliseMentions, percentEncode, safeHttpUrl, splitMessage, streamingPreview, truncate } from '../../chat-text.ts';
import type { Answer, AnswerSource } from '../../rag/types.ts';
import { feedbackButtons } from '../chat/ids.ts';

/** Slack's Block Kit limits, in characters, and the budget this renderer keeps to. */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3000,
  contextElements: 10,
  contextElementText: 3000,
  /** Slack fails above roughly 12,000 characters of block text; each message stays below this. */
  blockTextPerMessage: 11_000,
} as const;

export interface MrkdwnText {
  type: 'mrkdwn';
  text: string;
  /** Always true here: Slack then parses no mentions, channel names or bare URLs out of the text. */
  verbatim: true;
}

export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

export interface SectionBlock {
  type: 'section';
  text: MrkdwnText;
}

export interface ContextBlock {
  type: 'context';
  elements: MrkdwnText[];
}

export interface ButtonElement {
  type: 'button';
  action_id: string;
  text: PlainText;
  value: string;
}

export interface ActionsBlock {
  type: 'actions';
  elements: ButtonElement[];
}

export type SlackBlock = SectionBlock | ContextBlock | ActionsBlock;

/** One message to post: `text` is the plain-text fallback for notifications. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

export interface RenderAnswerBlocksOptions {
  /** The stored answer's id: when given, 👍/👎 buttons carry it as their value. */
  answerId?: number;
}

const ZWSP = '\u200b';
/** A source line's title is cut here (before escaping), so one huge title cannot crowd the rest out. */
const MAX_TITLE_IN_LINE = 200;
const MAX_DATE_IN_LINE = 40;
/** Longer links are shown as their title only. */
const MAX_URL_IN_LINE = 1000;
const ALSO_RELEVANT = '*Also relevant*';
const SOURCES_HEADING = '*Sources*';
const REFUSAL_HEADING = '*Closest papers, probably not what you need*';
const CONTINUED = '_Continued in the thread._';
const FALLBACK = 'Paperbot answer';

// ---------------------------------------------------------------------------------------------
// Escaping and links

/** `&`, `<`, `>` as Slack's entities: the only three Slack asks to escape. */
function escapeEntities(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Text from a model, an abstract or a notice, made safe for Slack mrkdwn: mentions neutralised
 * first (the core's rules, plus Slack's plain `@channel`), then `&`, `<`, `>` escaped, so no
 * `<!…>` or `<@…>` survives. The text stays readable: only a zero-width space is added inside
 * a would-be mention. Escape each text once: escaping `&amp;` again would show "&amp;".
 */
export function escapeSlackText(text: string): string {
  return escapeEntities(neutralise(text));
}

function neutralise(text: string): string {
  return neutraliseMentions(text).replace(/@(channel)\b/gi, `@${ZWSP}$1`);
}

/**
 * `<url|title>` for an http(s) URL without credentials, the title escaped and its `|` made a
 * harmless `¦`; characters that could end the link early are percent-encoded in the URL.
 * Any other URL gives the escaped title alone (an empty title shows the word "link").
 */
export function slackLink(url: string | undefined, title: string): string {
  const label = escapeSlackText(title.replace(/\s+/g, ' ').trim() || 'link').replace(/\|/g, '¦');
  const target = linkTarget(url);
  return target ? `<${target}|${label}>` : label;
}

function linkTarget(raw: string | undefined): string | undefined {
  const url = safeHttpUrl(raw);
  // Slack's link syntax ends at | or >, and its text encodes & as &amp;.
  return url === undefined ? undefined : percentEncode(url, /[|<>\s]/g).replace(/&/g, '&amp;');
}

// ---------------------------------------------------------------------------------------------
// Fitting escaped text

/**
 * Splits text (already neutralised, not yet escaped) with chat-text's `splitMessage`,
 * so no `[n]` citation or code block is cut, into chunks whose escaped form is at most `max`.
 * Splitting happens before escaping so no `&amp;` is ever cut in half; a chunk that grows past
 * `max` when escaped is split again with a proportionally smaller limit.
 */
function escapedChunks(text: string, max: number, limit = max): string[] {
  return splitMessage(text, limit).flatMap((chunk) => {
    const escaped = escapeEntities(chunk);
    if (escaped.length <= max) return [escaped];
    return escapedChunks(chunk, max, Math.max(16, Math.floor((chunk.length * max) / escaped.length)));
  });
}

/**
 * One line of plain text, neutralised and escaped, at most `max` characters once escaped. The cut
 * is made on the plain text (so no `&amp;` is cut in half) and shrinks until the escaped form fits.
 */
export function escapedLine(text: string, max: number): string {
  const raw = neutralise(text.replace(/\s+/g, ' ').trim());
  let cut = raw.length;
  for (;;) {
    const head = cut < raw.length ? truncate(raw, cut) : raw;
    const escaped = escapeEntities(head);
    if (escaped.length <= max || cut <= 1) return escaped.length <= max ? escaped : ELLIPSIS;
    cut = Math.min(cut - 1, Math.floor((cut * max) / escaped.length));
  }
}

function mrkdwn(text: string): MrkdwnText {
  return { type: 'mrkdwn', text, verbatim: true };
}

function section(text: string): SectionBlock {
  return { type: 'section', text: mrkdwn(text) };
}

/** Context blocks of one element each, holding the lines joined by newlines, ≤ 3000 per element. */
function contextBlocks(lines: readonly string[]): ContextBlock[] {
  const blocks: ContextBlock[] = [];
  let current = '';
  for (const line of lines) {
    if (current && current.length + 1 + line.length > SLACK_LIMITS.contextElementText) {
      blocks.push({ type: 'context', elements: [mrkdwn(current)] });
      current = '';
    }
    current = current ? `${current}\n${line}` : line;
  }
  if (current) blocks.push({ type: 'context', elements: [mrkdwn(current)] });
  return blocks;
}

// ---------------------------------------------------------------------------------------------
// Streaming

/**
 * The partial answer while it streams, for one message updated in place: one section,
 * escaped, cut at a safe boundary to fit 3000 characters, an unclosed code block closed, and
 * " …" appended to say more is coming.
 */
export function renderStreamingBlocks(text: string): SlackBlock[] {
  const safe = neutralise(text).trimEnd();
  if (!safe.trim()) return [section(ELLIPSIS)];
  return [section(streamingPreview(escapeEntities(safe), SLACK_LIMITS.sectionText, (limit) => escapedChunks(safe, limit)[0]))];
}

// ---------------------------------------------------------------------------------------------
// Answers

/**
 * Renders an answer as the messages to post, in order: the first goes in the channel, the rest
 * (overflow) in its thread, at most 3 in all (`MAX_ANSWER_MESSAGES`). The text (with a
 * refusal's reason) comes as mrkdwn sections of at most 3000 characters, split without cutting a
 * `[n]` citation or a code block; then the sources as `[n] <url|title> · date`, cited first and
 * then "Also relevant" (for a refusal, its closest papers); then the notices; then 👍/👎 buttons
 * when `answerId` is given. Each message has at most 50 blocks and under 11,000 characters of
 * block text. A text too long for 3 messages loses its last sections, replaced by one
 * "… see the sources" section: the sources, notices and buttons stay (notices beyond 3000
 * characters, and source lines that cannot fit even without text, give way to "… and N more").
 */
export function renderAnswerBlocks(answer: Answer, options: RenderAnswerBlocksOptions = {}): { messages: SlackMessage[] } {
  const body = answerBody(answer);
  // Only a prefix of a huge text is rendered: 3 messages never hold more than 33,000 characters.
  const prefix = (MAX_ANSWER_MESSAGES + 1) * SLACK_LIMITS.blockTextPerMessage;
  const sections = escapedChunks(neutralise(body.length > prefix ? body.slice(0, prefix) : body), SLACK_LIMITS.sectionText).map(section);
  const lines = sourceLines(answer);
  const notices = answer.notices.map((notice) => notice.trim()).filter(Boolean).map((notice) => escapedLine(notice, SLACK_LIMITS.contextElementText));
  const upTo = (all: readonly string[], count: number, more: string) => (count < all.length ? [...all.slice(0, count), `${ELLIPSIS} and ${all.length - count} more${more}`] : all);
  const compose = (textBlocks: number, sourceCount: number, noticeCount: number): SlackBlock[] => {
    const blocks: SlackBlock[] = sections.slice(0, textBlocks);
    if (textBlocks < sections.length || body.length > prefix) blocks.push(section(SEE_THE_SOURCES));
    blocks.push(...contextBlocks(upTo(lines, sourceCount, '')), ...contextBlocks(upTo(notices, noticeCount, ' notices')));
    if (!blocks.length) blocks.push(section(NO_ANSWER));
    if (options.answerId !== undefined) blocks.push(feedbackBlock(options.answerId));
    return blocks;
  };
  // Notices are one-liners: past one section's worth, the rest are counted, not shown. Then the
  // text gives way, and (for pathological answers only) the sources.
  let noticeCount = 0;
  for (let length = 0; noticeCount < notices.length && (noticeCount === 0 || length + notices[noticeCount]!.length <= SLACK_LIMITS.contextElementText); noticeCount++) length += notices[noticeCount]!.length + 1;
  let messages = packBlocks(compose(sections.length, lines.length, noticeCount));
  for (let kept = sections.length - 1; messages.length > MAX_ANSWER_MESSAGES && kept >= 0; kept--) messages = packBlocks(compose(kept, lines.length, noticeCount));
  for (let kept = lines.length - 1; messages.length > MAX_ANSWER_MESSAGES && kept >= 0; kept--) messages = packBlocks(compose(0, kept, noticeCount));
  return { messages };
}

function sourceLines(answer: Answer): string[] {
  if (answer.refusal) {
    const closest = answer.refusal.closest;
    return closest.length ? [REFUSAL_HEADING, ...closest.map(sourceLine)] : [];
  }
  const cited = answer.sources.filter((s) => s.cited);
  const other = answer.sources.filter((s) => !s.cited);
  const lines = cited.length ? [SOURCES_HEADING, ...cited.map(sourceLine)] : [];
  if (other.length) lines.push(cited.length ? ALSO_RELEVANT : SOURCES_HEADING, ...other.map(sourceLine));
  return lines;
}

/** `[n] <url|title> · date`; the title alone when the URL is unusable or very long. */
function sourceLine(source: AnswerSource): string {
  const title = truncate(source.title.replace(/\s+/g, ' ').trim() || 'Untitled', MAX_TITLE_IN_LINE);
  const linked = (source.url?.length ?? 0) <= MAX_URL_IN_LINE ? slackLink(source.url, title) : slackLink(undefined, title);
  const date = source.date?.trim() ? ` · ${escapedLine(truncate(source.date.trim(), MAX_DATE_IN_LINE), MAX_DATE_IN_LINE * 5)}` : '';
  return `[${source.n}] ${linked}${date}`;
}

function feedbackBlock(answerId: number): ActionsBlock {
  const button = (rating: 'up' | 'down', emoji: string): ButtonElement => ({
    type: 'button',
    ...feedbackButtons.slack.encode({ rating, answerId }),
    text: { type: 'plain_text', text: emoji, emoji: true },
  });
  return { type: 'actions', elements: [button('up', '👍'), button('down', '👎')] };
}

/** The characters of text a block carries, as Slack counts them towards its message limit. */
export function blockTextLength(block: SlackBlock): number {
  switch (block.type) {
    case 'section':
      return block.text.text.length;
    case 'context':
      return block.elements.reduce((sum, element) => sum + element.text.length, 0);
    case 'actions':
      return block.elements.reduce((sum, element) => sum + element.text.text.length, 0);
  }
}

/**
 * Packs blocks, in order, into messages of at most 50 blocks and under 11,000 characters of
 * block text; every message but the last keeps room for the "continued in the thread" note,
 * which only the first (channel) message gets.
 */
export function packBlocks(blocks: readonly SlackBlock[]): SlackMessage[] {
  const note: ContextBlock = { type: 'context', elements: [mrkdwn(CONTINUED)] };
  const groups = groupBlocks(blocks, SLACK_LIMITS.blocksPerMessage - 1, SLACK_LIMITS.blockTextPerMessage - 1 - blockTextLength(note));
  const first = groups[0];
  if (first && groups.length > 1) first.push(note);
  return groups.map((group) => ({ text: fallbackText(group), blocks: group }));
}

/** Blocks, in order, into as few groups as fit `maxBlocks` blocks and `maxText` characters of block text each. */
export function groupBlocks(blocks: readonly SlackBlock[], maxBlocks: number, maxText: number): SlackBlock[][] {
  const groups: SlackBlock[][] = [];
  let current: SlackBlock[] = [];
  let length = 0;
  for (const block of blocks) {
    const size = blockTextLength(block);
    if (current.length && (current.length + 1 > maxBlocks || length + size > maxText)) {
      groups.push(current);
      current = [];
      length = 0;
    }
    current.push(block);
    length += size;
  }
  if (current.length) groups.push(current);
  return groups;
}

/** The notification text: the message's first text (already escaped and at most 3000 long). */
function fallbackText(blocks: readonly SlackBlock[]): string {
  for (const block of blocks) {
    if (block.type === 'section') return block.text.text;
    if (block.type === 'context' && block.elements[0]) return block.elements[0].text;
  }
  return FALLBACK;
}
