/**
 * Chat-text safety, once for every place paperbot's text reaches a chat (both renderers, the
 * digests, the commands' text, the CLI's output): mentions neutralised so nothing pings anyone,
 * only safe http(s) links, messages split without cutting a citation or a code block, text cut
 * with "…" without splitting a surrogate pair, and the streaming preview of a growing answer.
 * Each platform's own markup (Discord markdown, Slack mrkdwn entities) stays in its renderer and
 * is built on these.
 *
 * Pure, and a bottom module: it imports only the core's shared types.
 */
import type { Answer } from './rag/types.ts';

export const ELLIPSIS = '…';

// ---------------------------------------------------------------------------------------------
// Mentions

const ZWSP = '\u200b';

/**
 * Neutralises every way a text could ping people when the bot posts it: Discord's @everyone,
 * @here, user/role/channel mentions, and Slack's <!channel>, <!here>, <!everyone>, <!subteam^…>
 * and <@U…>. Questions, abstracts and model output all pass through here before any adapter
 * sends them. A zero-width space keeps the text readable while breaking the mention syntax.
 * Idempotent: a text that comes back unchanged holds no ping.
 */
export function neutraliseMentions(text: string): string {
  return (
    text
      // Mass mentions typed as words: Discord's @everyone/@here, Slack's @channel/@here/@everyone.
      .replace(/@(everyone|here|channel)\b/gi, `@${ZWSP}$1`)
      // Discord user/nickname/role mentions: <@123>, <@!123>, <@&123>; Slack user mentions <@U123>.
      // Slack's labelled form <@U123|name> too.
      .replace(/<@([!&]?[\w-]*(?:\|[^>]*)?)>/g, `<@${ZWSP}$1>`)
      // Slack special mentions and user-group mentions: <!channel>, <!here|here>, <!subteam^S1>.
      .replace(/<!([^>]*)>/g, `<${ZWSP}!$1>`)
  );
}

/** Words that ping everyone when written after an `@`. */
const MASS_MENTIONS = ['everyone', 'here', 'channel'] as const;
/** An unclosed `<@…` or `<!…` that a later `>` could still turn into a mention. */
const OPEN_ANGLE_MENTION = /^<(?:@[!&]?[\w-]*(?:\|[^>]*)?|![^>]*)?$/;
/** Longest tail held back: an unclosed `<!…` longer than this is broken up rather than held forever. */
const MAX_HELD_MENTION = 256;

/**
 * `neutraliseMentions` for text that arrives in chunks (a streamed answer): a mention split across
 * two chunks (`@every` + `one`) must not slip through because each half looks harmless. `push`
 * returns the chunk's safe text, holding back a short tail that could still become a mention
 * (`@ever`, `<@12`, `<!chan`); `flush` returns what is held at the end. The outputs concatenate to
 * `neutraliseMentions` of the whole text, except that a `<!…`/`<@…` left open for more than 256
 * characters is released with a zero-width space after its `<`, so it can never close into one.
 */
export class MentionNeutraliser {
  private held = '';

  push(chunk: string): string {
    const text = this.held + chunk;
    let keep = unsafeTailStart(text);
    let raw = text.slice(0, keep);
    if (text.length - keep > MAX_HELD_MENTION) {
      // Released, but broken: the ZWSP after `<` keeps a later `>` from closing it into a mention.
      raw = `${text.slice(0, keep + 1)}${ZWSP}`;
      keep += 1;
      const rest = text.slice(keep);
      const again = unsafeTailStart(rest);
      raw += rest.slice(0, again);
      keep += again;
    }
    this.held = text.slice(keep);
    return neutraliseMentions(raw);
  }

  /** The held tail, neutralised; the neutraliser is then empty (ready for another stream). */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return neutraliseMentions(rest);
  }
}

/** Where the tail that could still become a mention starts (the text's length when none could). */
function unsafeTailStart(text: string): number {
  let start = text.length;
  // `@` followed by a prefix of a mass-mention word, or by the whole word (the next character decides).
  const at = text.lastIndexOf('@');
  if (at >= 0 && text.length - at <= 1 + 'everyone'.length) {
    const word = text.slice(at + 1).toLowerCase();
    if (MASS_MENTIONS.some((mention) => mention.startsWith(word))) start = at;
  }
  // An unclosed `<@…` / `<!…` after the last `>`: the first one that could still close wins.
  const closed = text.lastIndexOf('>') + 1;
  for (let open = text.indexOf('<', closed); open >= 0 && open < start; open = text.indexOf('<', open + 1)) {
    if (OPEN_ANGLE_MENTION.test(text.slice(open))) {
      start = open;
      break;
    }
  }
  return start;
}

// ---------------------------------------------------------------------------------------------
// Links: http(s) only, and never with credentials in them

/** The URL's text when it is safe to link to, else undefined (other schemes, credentials, garbage). */
export function safeHttpUrl(raw: string | undefined): string | undefined {
  if (!raw?.trim()) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  return url.href;
}

/** Percent-encodes each character of `characters` (a regex character class body) in a URL. */
export function percentEncode(url: string, characters: RegExp): string {
  return url.replace(characters, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

// ---------------------------------------------------------------------------------------------
// Cutting

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** True when cutting `text` at `at` would split a surrogate pair (one emoji, say) in two. */
export function splitsSurrogatePair(text: string, at: number): boolean {
  return isLowSurrogate(text.charCodeAt(at)) && isHighSurrogate(text.charCodeAt(at - 1));
}

/** Cuts text to `max` characters with a trailing "…", never between the halves of a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = Math.max(0, max - ELLIPSIS.length);
  if (cut > 0 && isLowSurrogate(text.charCodeAt(cut))) cut -= 1;
  return text.slice(0, cut).trimEnd() + ELLIPSIS;
}

// ---------------------------------------------------------------------------------------------
// Splitting

const FENCE = '```';
const FENCE_CLOSE = `\n${FENCE}`;
const PREVIEW_SUFFIX = ` ${ELLIPSIS}`;
/** Below this a chunk cannot hold a reopened code fence, its closing fence and some code. */
const MIN_LIMIT = 16;
/** The smallest message limit of the platforms (Discord's 2000 characters of content): the default. */
const DEFAULT_LIMIT = 2000;

/** `[3]`, `[1, 2]`, `[2-4; 7]`: the citation forms the core writes and checks. */
const CITATION = /\[\s*\d+(?:\s*[-–]\s*\d+)?(?:\s*[,;]\s*\d+(?:\s*[-–]\s*\d+)?)*\s*\]/g;
/** Text ending a sentence: a stop, closing quotes or emphasis, then any citations. */
const SENTENCE_END = /[.!?…]["'’”)*_~`]*(?:\s*\[\s*\d[\d\s,;\-–]*\])*$/;

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
 * Splits text into chunks of at most `limit` characters (default 2000), one chat message each.
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
export function splitMessage(text: string, limit: number = DEFAULT_LIMIT): string[] {
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
    if (splitsSurrogatePair(text, at)) return undefined;
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

/** True when the text opens a ``` block it does not close. */
function hasOpenFence(text: string): boolean {
  return (text.split(FENCE).length - 1) % 2 === 1;
}


// ---------------------------------------------------------------------------------------------
// Streaming and answers

/**
 * The start of an answer that is still streaming, for one message edited in place: `whole` (the
 * text as the platform shows it) when it fits `limit` with room for " …" and opens no code block
 * it does not close; else the first chunk `firstChunk` gives for the room left (a safe boundary,
 * as `splitMessage` cuts), an unclosed code block closed. Then " …", to say more is coming.
 * Always at most `limit` characters when `firstChunk` keeps to the limit it is given.
 */
export function streamingPreview(whole: string, limit: number, firstChunk: (limit: number) => string | undefined): string {
  const room = limit - PREVIEW_SUFFIX.length;
  let head = whole.length <= room && !hasOpenFence(whole) ? whole : (firstChunk(room - FENCE_CLOSE.length) ?? '');
  if (hasOpenFence(head)) head += FENCE_CLOSE;
  return head + PREVIEW_SUFFIX;
}

/** What an answer says, as every platform shows it: a refusal's reason first unless the text already gives it. */
export function answerBody(answer: Pick<Answer, 'text' | 'refusal'>): string {
  const reason = answer.refusal?.reason.trim();
  if (!reason || answer.text.includes(reason)) return answer.text;
  return answer.text.trim() ? `${reason}\n\n${answer.text}` : reason;
}

/** Shown when an answer has nothing to show (no text, no sources, no notices). */
export const NO_ANSWER = 'No answer was produced.';

/** An answer is posted as at most this many chat messages, on every platform. */
export const MAX_ANSWER_MESSAGES = 3;
/** The last line of an answer cut to fit `MAX_ANSWER_MESSAGES`: its sources are still listed below it. */
export const SEE_THE_SOURCES = `${ELLIPSIS} see the sources`;

/**
 * An answer's text as at most `maxMessages` chunks of `split(text, limit)` (at most `limit` long
 * each). When it needs more, the last kept chunk is cut shorter at a safe boundary and ends with
 * a line "… see the sources". Only a prefix of a huge text is ever split (a 50 MB answer costs
 * what a 4-message one does).
 */
export function capMessages(text: string, limit: number, split: (text: string, limit: number) => string[], maxMessages = MAX_ANSWER_MESSAGES): string[] {
  const prefix = (maxMessages + 1) * limit;
  const head = text.length > prefix ? text.slice(0, prefix) : text;
  const chunks = split(head, limit);
  if (chunks.length <= maxMessages && head === text) return chunks;
  const marker = `\n\n${SEE_THE_SOURCES}`;
  const lastIndex = Math.min(chunks.length, maxMessages) - 1;
  const kept = chunks.slice(0, Math.max(0, lastIndex));
  const last = lastIndex >= 0 ? split(chunks[lastIndex]!, limit - marker.length)[0] : undefined;
  kept.push(last ? `${last}${marker}` : SEE_THE_SOURCES);
  return kept;
}
