/**
 * Turns an `Answer` into Discord message payloads. Discord neither splits long content nor
 * trims oversized embeds: it rejects the whole message, so every limit is enforced here, before
 * anything is sent. Model output, titles and notices all pass through the core's mention
 * neutraliser, and every payload carries `allowedMentions: { parse: [] }` as a second guard.
 *
 * Pure and free of discord.js on purpose: the payloads are plain objects shaped like Discord's
 * API JSON (which discord.js accepts as they are), so these rules are tested without a client.
 * Lengths are counted in UTF-16 code units, never fewer than Discord's own count.
 */
import type { Answer, AnswerSource } from '../../rag/answer.ts';
import { neutraliseMentions } from '../../rag/mentions.ts';
import { percentEncode, safeHttpUrl } from '../../rag/links.ts';
import { ELLIPSIS, truncate } from '../../rag/text.ts';

/** Discord's documented message and embed limits, in characters. */
export const DISCORD_LIMITS = {
  /** Message content. */
  content: 2000,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  embedFieldName: 256,
  embedFieldValue: 1024,
  embedFooter: 2048,
  embedsPerMessage: 10,
  /** Title, description, field names and values, and footer, summed over all embeds of one message. */
  embedCharactersPerMessage: 6000,
} as const;

/** One embed, shaped like Discord's API JSON. */
export interface DiscordEmbed {
  title?: string;
  description?: string;
  url?: string;
  fields?: { name: string; value: string; inline?: boolean }[];
  footer?: { text: string };
}

/** One message to send (or edit into place), shaped like Discord's API JSON. */
export interface DiscordMessagePayload {
  content: string;
  embeds: DiscordEmbed[];
  /** Always empty: no text the bot posts may ping anyone, whatever it contains. */
  allowedMentions: { parse: [] };
}

export interface RenderAnswerOptions {
  /**
   * The answer is still streaming: render one preview message (`renderStreamingPreview` of the
   * text so far) and no sources embed, since which sources are cited is known only at the end.
   */
  streaming?: boolean;
}

const FENCE = '```';
const FENCE_CLOSE = `\n${FENCE}`;
const PREVIEW_SUFFIX = ` ${ELLIPSIS}`;
/** Below this a chunk cannot hold a reopened code fence, its closing fence and some code. */
const MIN_LIMIT = 16;
/** A source line's title is cut here, so one huge title cannot crowd the other sources out. */
const MAX_TITLE_IN_LINE = DISCORD_LIMITS.embedTitle;
const MAX_DATE_IN_LINE = 40;
const SOURCES_TITLE = 'Sources';
const REFUSAL_TITLE = 'Closest papers, probably not what you need';
const ALSO_RELEVANT = '**Also relevant**';
const NO_ANSWER = 'No answer was produced.';

/** `[3]`, `[1, 2]`, `[2-4; 7]`: the citation forms the core writes and checks. */
const CITATION = /\[\s*\d+(?:\s*[-–]\s*\d+)?(?:\s*[,;]\s*\d+(?:\s*[-–]\s*\d+)?)*\s*\]/g;
/** Text ending a sentence: a stop, closing quotes or emphasis, then any citations. */
const SENTENCE_END = /[.!?…]["'’”)*_~`]*(?:\s*\[\s*\d[\d\s,;\-–]*\])*$/;

// ---------------------------------------------------------------------------------------------
// Splitting

interface CodeBlock {
  /** Index of the opening fence. */
  start: number;
  /** First index of the code, after the fence and its language line. */
  bodyStart: number;
  /** Index of the closing fence (the text's length when the block is never closed). */
  close: number;
  /** Index just past the closing fence. */
  end: number;
  lang: string;
}

interface Cut {
  /** The chunk ends here. */
  at: number;
  /** The next chunk starts here (past the whitespace dropped at the split). */
  resume: number;
  /** Set when the cut falls inside this (oversized) code block, which is closed and reopened. */
  block: CodeBlock | undefined;
}

/** Kinds of break, a higher number a better place to split. */
const Level = { Word: 1, Sentence: 2, Line: 3, Paragraph: 4 } as const;
type Level = (typeof Level)[keyof typeof Level];

interface Candidate extends Cut {
  level: Level;
}

/**
 * Splits text into chunks of at most `limit` characters for Discord messages.
 *
 * Breaks at the last paragraph boundary (blank line) that leaves the chunk at least half full,
 * else the last such line break, sentence end or other whitespace, in that order; when no break
 * reaches half the limit, at the latest break of any kind (so a short paragraph followed by a
 * long one does not cost an extra message); with no whitespace at all, at the last safe character. It never breaks inside a citation (`[3]`, `[1, 2]`) nor just before one, so a
 * citation stays with the sentence it supports. It never breaks inside a ``` code block, except
 * one longer than `limit` on its own: that is split between lines, closed with ``` at the split
 * and reopened with ``` and the same language tag at the start of the next chunk.
 *
 * Every chunk is at most `limit` long. The chunks concatenated give the text back, except for
 * the whitespace dropped at split points and the fences added around a split code block.
 * Blank text gives no chunks.
 *
 * @throws RangeError when `limit` is not an integer of at least 16.
 */
export function splitMessage(text: string, limit: number = DISCORD_LIMITS.content): string[] {
  if (!Number.isInteger(limit) || limit < MIN_LIMIT) throw new RangeError(`splitMessage: limit must be an integer >= ${MIN_LIMIT}, got ${limit}`);
  if (!text.trim()) return [];
  if (text.length <= limit) return [text];
  return new Splitter(text, limit).split();
}

class Splitter {
  private readonly blocks: CodeBlock[];
  /** For each cut position, the code block it falls strictly inside, if any. */
  private readonly blockAt: (CodeBlock | undefined)[];
  /** Cut positions strictly inside a citation. */
  private readonly inCitation: Uint8Array;
  /** Positions where a citation starts. */
  private readonly citationStarts = new Set<number>();

  constructor(
    private readonly text: string,
    private readonly limit: number,
  ) {
    this.blocks = findCodeBlocks(text);
    this.blockAt = new Array<CodeBlock | undefined>(text.length + 1);
    for (const block of this.blocks) for (let i = block.start + 1; i < block.end; i++) this.blockAt[i] = block;
    this.inCitation = new Uint8Array(text.length + 1);
    for (const match of text.matchAll(CITATION)) {
      if (this.blockAt[match.index] || this.blockAt[match.index + 1]) continue; // `[1]` inside code is code
      this.citationStarts.add(match.index);
      for (let i = match.index + 1; i < match.index + match[0].length; i++) this.inCitation[i] = 1;
    }
  }

  split(): string[] {
    const { text } = this;
    const chunks: string[] = [];
    let reopen = '';
    let pos = skipWhitespace(text, 0);
    while (pos < text.length) {
      const room = this.limit - reopen.length;
      if (text.length - pos <= room) {
        chunks.push(reopen + text.slice(pos).trimEnd());
        break;
      }
      const cut = this.chooseCut(pos, room);
      const body = text.slice(pos, cut.at);
      if (cut.block) {
        chunks.push(reopen + body + (body.endsWith('\n') ? FENCE : FENCE_CLOSE));
        reopen = this.reopenFence(cut.block);
      } else {
        const chunk = reopen + body.trimEnd();
        if (chunk.trim()) chunks.push(chunk);
        reopen = '';
      }
      pos = cut.resume;
    }
    return chunks;
  }

  private reopenFence(block: CodeBlock): string {
    const withLang = `${FENCE}${block.lang}\n`;
    // A language tag too long to leave room for code is dropped rather than loop forever.
    return withLang.length + FENCE_CLOSE.length + MIN_LIMIT / 2 <= this.limit ? withLang : `${FENCE}\n`;
  }

  private oversized(block: CodeBlock): boolean {
    return block.end - block.start > this.limit;
  }

  private chooseCut(pos: number, room: number): Cut {
    const candidates = this.candidates(pos, room);
    const halfFull = pos + Math.floor(room / 2);
    for (const level of [Level.Paragraph, Level.Line, Level.Sentence, Level.Word]) {
      const best = candidates.findLast((c) => c.level === level && c.at >= halfFull);
      if (best) return best;
    }
    // Nothing leaves the chunk half full: take the latest break of any kind.
    const latest = candidates.reduce<Candidate | undefined>((a, c) => (!a || c.at > a.at ? c : a), undefined);
    return latest ?? this.hardCut(pos, room);
  }

  /** Every whitespace break in the window, in order. */
  private candidates(pos: number, room: number): Candidate[] {
    const { text } = this;
    const found: Candidate[] = [];
    const whitespace = /\s+/g;
    whitespace.lastIndex = pos;
    for (let match = whitespace.exec(text); match && match.index <= pos + room; match = whitespace.exec(text)) {
      const at = match.index;
      const runEnd = at + match[0].length;
      const block = this.blockAt[at];
      if (block) {
        if (!this.oversized(block)) continue;
        // Inside an oversized block: break only at a line end, consuming just that newline so
        // the next line keeps its indentation, and never leave an empty block on either side.
        for (let j = at; j < runEnd; j++) {
          if (text[j] !== '\n' || j <= pos || j <= block.bodyStart || j + 1 >= block.close) continue;
          if (j - pos > room - FENCE_CLOSE.length) break;
          found.push({ at: j, resume: j + 1, block, level: Level.Line });
        }
        continue;
      }
      if (at <= pos || this.inCitation[at] || this.citationStarts.has(runEnd)) continue;
      const newlines = match[0].split('\n').length - 1;
      const level =
        newlines >= 2
          ? Level.Paragraph
          : newlines === 1
            ? Level.Line
            : SENTENCE_END.test(text.slice(Math.max(pos, at - 200), at))
              ? Level.Sentence
              : Level.Word;
      found.push({ at, resume: runEnd, block: undefined, level });
    }
    return found;
  }

  /** No whitespace to break at: the last position that is safe, else the end of the window. */
  private hardCut(pos: number, room: number): Cut {
    for (let at = pos + room; at > pos; at--) {
      const cut = this.safeHardCut(pos, room, at);
      if (cut) return cut;
    }
    // Only reachable with a tiny limit and a citation longer than it: split it after all.
    const at = pos + room - FENCE_CLOSE.length;
    const block = this.blockAt[at];
    return block ? { at, resume: at, block } : { at: pos + room, resume: pos + room, block: undefined };
  }

  private safeHardCut(pos: number, room: number, at: number): Cut | undefined {
    const { text } = this;
    if (isLowSurrogate(text.charCodeAt(at)) && isHighSurrogate(text.charCodeAt(at - 1))) return undefined;
    if (this.inCitation[at]) return undefined;
    const block = this.blockAt[at];
    if (!block) return { at, resume: at, block: undefined };
    if (!this.oversized(block)) return undefined;
    if (at <= block.bodyStart || at >= block.close || at - pos > room - FENCE_CLOSE.length) return undefined;
    return { at, resume: at, block };
  }
}

/** The ``` blocks of a text, in order; one never closed runs to the end. */
function findCodeBlocks(text: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf(FENCE, from);
    if (start < 0) return blocks;
    const afterFence = start + FENCE.length;
    const lineEnd = text.indexOf('\n', afterFence);
    const firstLine = lineEnd < 0 ? '' : text.slice(afterFence, lineEnd);
    const lang = /^[\w+#.-]+$/.test(firstLine) ? firstLine : '';
    const bodyStart = lang ? lineEnd + 1 : afterFence;
    const close = text.indexOf(FENCE, bodyStart);
    if (close < 0) {
      blocks.push({ start, bodyStart, close: text.length, end: text.length, lang });
      return blocks;
    }
    blocks.push({ start, bodyStart, close, end: close + FENCE.length, lang });
    from = close + FENCE.length;
  }
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && /\s/.test(text[i] ?? '')) i++;
  return i;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** True when the text opens a ``` block it does not close. */
function hasOpenFence(text: string): boolean {
  return (text.split(FENCE).length - 1) % 2 === 1;
}

// ---------------------------------------------------------------------------------------------
// Streaming preview

/**
 * The partial answer shown while it streams, for one message edited in place: neutralised, cut
 * at a safe boundary (as `splitMessage` would) so it fits in one message, an unclosed code block
 * closed, and " …" appended to say more is coming. Always at most 2000 characters.
 */
export function renderStreamingPreview(text: string): string {
  const safe = neutraliseMentions(text).trimEnd();
  if (!safe.trim()) return ELLIPSIS;
  const limit = DISCORD_LIMITS.content - PREVIEW_SUFFIX.length;
  let head = safe.length <= limit && !hasOpenFence(safe) ? safe : (splitMessage(safe, limit - FENCE_CLOSE.length)[0] ?? '');
  if (hasOpenFence(head)) head += FENCE_CLOSE;
  return head + PREVIEW_SUFFIX;
}

// ---------------------------------------------------------------------------------------------
// Answers

/**
 * Renders an answer as the messages to send, in order. The text (neutralised) is split with
 * `splitMessage`; the last message carries one embed: the cited sources as
 * `[n] [Title](url) · date`, then the other retrieved papers under "Also relevant" (for a
 * refusal, its closest papers), cut with "… and N more" to fit, and the answer's notices in the
 * footer. A refusal's content always states its reason. Every payload sets
 * `allowedMentions: { parse: [] }` and fits Discord's limits (`DISCORD_LIMITS`).
 */
export function renderAnswer(answer: Answer, options: RenderAnswerOptions = {}): DiscordMessagePayload[] {
  if (options.streaming) return [payload(renderStreamingPreview(answer.text), [])];
  const chunks = splitMessage(neutraliseMentions(answerContent(answer)));
  const embed = sourcesEmbed(answer);
  const embeds = fitEmbeds(embed ? [embed] : []);
  if (!chunks.length) chunks.push(embeds.length ? '' : NO_ANSWER);
  return chunks.map((content, i) => payload(content, i === chunks.length - 1 ? embeds : []));
}

function payload(content: string, embeds: DiscordEmbed[]): DiscordMessagePayload {
  return { content, embeds, allowedMentions: { parse: [] } };
}

function answerContent(answer: Answer): string {
  const reason = answer.refusal?.reason.trim();
  if (!reason || answer.text.includes(reason)) return answer.text;
  return answer.text.trim() ? `${reason}\n\n${answer.text}` : reason;
}

function sourcesEmbed(answer: Answer): DiscordEmbed | undefined {
  const footer = footerText(answer.notices);
  const groups: { heading?: string; sources: AnswerSource[] }[] = answer.refusal
    ? [{ sources: answer.refusal.closest }]
    : [{ sources: answer.sources.filter((s) => s.cited) }, { heading: ALSO_RELEVANT, sources: answer.sources.filter((s) => !s.cited) }];
  const embed: DiscordEmbed = {};
  if (groups.some((group) => group.sources.length)) {
    const title = answer.refusal ? REFUSAL_TITLE : SOURCES_TITLE;
    // The footer is sized first; the sources take what is left of the message's embed budget.
    const budget = Math.min(DISCORD_LIMITS.embedDescription, DISCORD_LIMITS.embedCharactersPerMessage - title.length - (footer?.length ?? 0));
    embed.title = title;
    embed.description = fitLines(groups, budget);
  }
  if (footer) embed.footer = { text: footer };
  return embed.description || embed.footer ? embed : undefined;
}

/** The source lines that fit in `budget`, in order, then "… and N more" for the rest. */
function fitLines(groups: { heading?: string; sources: AnswerSource[] }[], budget: number): string {
  const total = groups.reduce((sum, group) => sum + group.sources.length, 0);
  const more = (n: number) => `${ELLIPSIS} and ${n} more`;
  const lines: string[] = [];
  let length = -1; // no newline before the first line
  let shown = 0;
  fill: for (const group of groups) {
    for (const [i, source] of group.sources.entries()) {
      const adding = i === 0 && group.heading ? [group.heading, sourceLine(source)] : [sourceLine(source)];
      const added = adding.reduce((sum, line) => sum + line.length + 1, 0);
      const left = total - shown - 1;
      const reserve = left ? more(left).length + 1 : 0;
      if (length + added + reserve > budget) break fill;
      lines.push(...adding);
      length += added;
      shown += 1;
    }
  }
  if (shown < total) lines.push(more(total - shown));
  return lines.join('\n');
}

/** `[n] [Title](url) · date`, the title a plain (escaped) text when no usable URL is known. */
function sourceLine(source: AnswerSource): string {
  const title = escapeMarkdown(truncate(source.title.replace(/\s+/g, ' ').trim() || 'Untitled', MAX_TITLE_IN_LINE));
  const url = linkTarget(source.url);
  const date = source.date?.trim() ? ` · ${escapeMarkdown(truncate(source.date.replace(/\s+/g, ' ').trim(), MAX_DATE_IN_LINE))}` : '';
  // Neutralised after escaping: an escape could otherwise end a word and complete "@here\_".
  return neutraliseMentions(`[${source.n}] ${url ? `[${title}](${url})` : title}${date}`);
}

/** Backslash-escapes what could end a masked link early or restyle the line. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\[\]()*_~`|]/g, '\\$&');
}

/**
 * A URL safe inside `(…)` of a masked link: http(s) only, no credentials, and the characters
 * that could close the link or spell a mention percent-encoded. Anything else gives no link.
 */
function linkTarget(raw: string | undefined): string | undefined {
  const url = safeHttpUrl(raw);
  return url === undefined ? undefined : percentEncode(url, /[()@\s]/g);
}

function footerText(notices: readonly string[]): string | undefined {
  const lines = notices.map((notice) => notice.replace(/\s+/g, ' ').trim()).filter(Boolean);
  return lines.length ? truncate(neutraliseMentions(lines.join('\n')), DISCORD_LIMITS.embedFooter) : undefined;
}

function embedLength(embed: DiscordEmbed): number {
  const fields = (embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0);
  return (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0) + fields;
}

/**
 * The last guard before sending: caps each embed's parts, keeps at most 10 embeds, and trims
 * descriptions, then footers, then whole embeds until one message's embeds total ≤ 6000.
 */
function fitEmbeds(embeds: readonly DiscordEmbed[]): DiscordEmbed[] {
  const fitted: DiscordEmbed[] = [];
  let left = DISCORD_LIMITS.embedCharactersPerMessage;
  for (const original of embeds.slice(0, DISCORD_LIMITS.embedsPerMessage)) {
    const embed = capEmbed(original);
    let over = embedLength(embed) - left;
    if (over > 0 && embed.description) {
      const keep = embed.description.length - over;
      if (keep > ELLIPSIS.length) embed.description = truncate(embed.description, keep);
      else delete embed.description;
      over = embedLength(embed) - left;
    }
    if (over > 0 && embed.footer) {
      const keep = embed.footer.text.length - over;
      if (keep > ELLIPSIS.length) embed.footer = { text: truncate(embed.footer.text, keep) };
      else delete embed.footer;
      over = embedLength(embed) - left;
    }
    if (over > 0 || embedLength(embed) === 0) break;
    fitted.push(embed);
    left -= embedLength(embed);
  }
  return fitted;
}

function capEmbed(embed: DiscordEmbed): DiscordEmbed {
  const capped: DiscordEmbed = {};
  if (embed.title) capped.title = truncate(embed.title, DISCORD_LIMITS.embedTitle);
  if (embed.description) capped.description = truncate(embed.description, DISCORD_LIMITS.embedDescription);
  if (embed.url) capped.url = embed.url;
  if (embed.fields?.length) {
    capped.fields = embed.fields.slice(0, DISCORD_LIMITS.embedFields).map((field) => {
      const capField: { name: string; value: string; inline?: boolean } = {
        name: truncate(field.name, DISCORD_LIMITS.embedFieldName),
        value: truncate(field.value, DISCORD_LIMITS.embedFieldValue),
      };
      if (field.inline !== undefined) capField.inline = field.inline;
      return capField;
    });
  }
  if (embed.footer?.text) capped.footer = { text: truncate(embed.footer.text, DISCORD_LIMITS.embedFooter) };
  return capped;
}
